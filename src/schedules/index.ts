// Pipeline schedules: cron patterns in a timezone that start pipelines (source `schedule`) with
// their owner's permissions. The leader duty that runs them is src/server/schedules.ts.
export { nextRunAfter } from './cron.js';
export {
  createSchedule,
  deleteSchedule,
  listSchedules,
  requireSchedule,
  scheduleVariableKeys,
  scheduleVariables,
  updateSchedule,
} from './schedules.js';
export type { NewSchedule, ScheduleChanges, ScheduleRow } from './schedules.js';
export { dueSchedules, runDueSchedule, runScheduleNow } from './run.js';
export type { ScheduleResult, ScheduleRun } from './run.js';
