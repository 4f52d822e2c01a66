// What a pipeline notification says, for each kind of receiver: an email, a Slack-compatible
// incoming webhook, a Microsoft Teams card, and the generic JSON webhook (docs/operations.md
// documents its body). Pure: the handler (./notifications.ts) gathers the facts at send time.
import type { NotificationEvent } from '../api/index.js';

export interface NotifiedJob {
  id: number;
  name: string;
  stage: string;
  /** GitLab's failure reason (script_failure, ...); null for a job that did not fail. */
  failureReason: string | null;
  allowFailure: boolean;
  /** The job's page. */
  url: string;
  /** The line of the command that failed (or the first error line), linked at its number; null when the log has none. */
  logLine: { number: number; text: string; url: string } | null;
}

export interface PipelineFacts {
  id: number;
  repository: string;
  ref: string;
  sha: string;
  status: string;
  source: string;
  url: string;
  commitMessage: string | null;
  commitAuthor: string | null;
  /** Why the pipeline could not start (its file did not compile), with file:line:column; null otherwise. */
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface NotificationFacts {
  event: NotificationEvent;
  pipeline: PipelineFacts;
  /** The pipeline's failed jobs (latest attempts), for failed pipelines. */
  failedJobs: NotifiedJob[];
  /** Manual jobs waiting to be played, for the manual event. */
  manualJobs: NotifiedJob[];
}

const PHRASE: Record<NotificationEvent, string> = {
  failed: 'failed',
  fixed: 'was fixed',
  success: 'succeeded',
  manual: 'is waiting for a manual action',
};

const short = (sha: string) => sha.slice(0, 8);
const firstLine = (text: string | null) => (text ?? '').split('\n')[0].trim();

/** One line: "shop: pipeline #12 failed on main (1a2b3c4d)". */
export function notificationTitle(f: NotificationFacts): string {
  const p = f.pipeline;
  return `${p.repository}: pipeline #${p.id} ${PHRASE[f.event]} on ${p.ref} (${short(p.sha)})`;
}

function jobLine(j: NotifiedJob): string {
  const why = j.failureReason ? `: ${j.failureReason}${j.allowFailure ? ' (allowed to fail)' : ''}` : '';
  return `${j.name} (stage ${j.stage})${why}`;
}

export function notificationEmail(f: NotificationFacts): { subject: string; text: string } {
  const p = f.pipeline;
  const commit = firstLine(p.commitMessage);
  const lines = [
    `Pipeline #${p.id} of ${p.repository} ${PHRASE[f.event]}.`,
    '',
    `Ref:      ${p.ref}`,
    `Commit:   ${short(p.sha)}${commit ? ` ${commit}` : ''}${p.commitAuthor ? ` (${p.commitAuthor})` : ''}`,
    `Status:   ${p.status}`,
    `Pipeline: ${p.url}`,
  ];
  if (p.error) lines.push('', 'The pipeline file has an error:', ...p.error.split('\n').map((l) => `  ${l}`));
  if (f.failedJobs.length > 0) {
    lines.push('', 'Failed jobs:');
    for (const j of f.failedJobs) {
      lines.push(`  - ${jobLine(j)}`);
      if (j.logLine) lines.push(`    line ${j.logLine.number}: ${j.logLine.text}`, `    ${j.logLine.url}`);
      else lines.push(`    ${j.url}`);
    }
  }
  if (f.manualJobs.length > 0) {
    lines.push('', 'Waiting to be played:');
    for (const j of f.manualJobs) lines.push(`  - ${jobLine(j)}: ${j.url}`);
  }
  return { subject: `[Tandem] ${notificationTitle(f)}`, text: lines.join('\n') + '\n' };
}

/** The generic webhook's body (docs/operations.md; `version` changes if the shape ever does). */
export function notificationWebhookBody(f: NotificationFacts, delivery: { id: number; subscriptionId: number; timestamp: number }) {
  return {
    version: '1',
    event: f.event,
    /** The status the message is about; pipeline.status is the pipeline's when the message was sent (a retry may have moved it on). */
    status: f.event === 'fixed' ? 'success' : f.event,
    title: notificationTitle(f),
    /** Seconds since the epoch, equal to the X-Tandem-Timestamp header: covered by the signature. */
    timestamp: delivery.timestamp,
    /** The same for every attempt of this message: receivers deduplicate retries by it. */
    deliveryId: delivery.id,
    subscriptionId: delivery.subscriptionId,
    pipeline: f.pipeline,
    failedJobs: f.failedJobs,
    manualJobs: f.manualJobs,
  };
}

const COLOURS: Record<NotificationEvent, { slack: string; teams: string }> = {
  failed: { slack: '#d40e0d', teams: 'Attention' },
  fixed: { slack: '#2eb886', teams: 'Good' },
  success: { slack: '#2eb886', teams: 'Good' },
  manual: { slack: '#e8a317', teams: 'Warning' },
};

/** Slack's link syntax escapes &, < and > in text. */
const slackText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Slack's incoming webhook payload (Mattermost and Rocket.Chat take it too): a text line, an attachment with the jobs. */
export function notificationSlackPayload(f: NotificationFacts) {
  const p = f.pipeline;
  const jobs = [
    ...f.failedJobs.map(
      (j) =>
        `• <${j.logLine?.url ?? j.url}|${slackText(j.name)}> (stage ${slackText(j.stage)})${j.failureReason ? `: ${j.failureReason}` : ''}${j.logLine ? `\n    \`${slackText(j.logLine.text)}\`` : ''}`,
    ),
    ...f.manualJobs.map((j) => `• <${j.url}|${slackText(j.name)}> (stage ${slackText(j.stage)}) waits to be played`),
  ];
  return {
    text: `<${p.url}|${slackText(notificationTitle(f))}>`,
    attachments: [
      {
        color: COLOURS[f.event].slack,
        title: `Pipeline #${p.id} ${PHRASE[f.event]}`,
        title_link: p.url,
        text: jobs.join('\n'),
        fields: [
          { title: 'Repository', value: slackText(p.repository), short: true },
          { title: 'Ref', value: slackText(p.ref), short: true },
          { title: 'Commit', value: slackText(`${short(p.sha)} ${firstLine(p.commitMessage)}`.trim()), short: false },
        ],
        footer: 'Tandem',
        ts: Math.floor(Date.parse(p.finishedAt ?? p.createdAt) / 1000),
      },
    ],
  };
}

/**
 * A Microsoft Teams message with an Adaptive Card, as Teams' incoming webhooks and Workflows
 * ("post to a channel when a webhook request is received") take it: `type: message` and the card
 * as an attachment of content type application/vnd.microsoft.card.adaptive.
 */
export function notificationTeamsPayload(f: NotificationFacts) {
  const p = f.pipeline;
  const jobBlocks = [
    ...f.failedJobs.map((j) => ({
      type: 'TextBlock',
      wrap: true,
      text: `[${j.name}](${j.logLine?.url ?? j.url}) (stage ${j.stage})${j.failureReason ? `: ${j.failureReason}` : ''}${j.logLine ? ` — \`${j.logLine.text}\`` : ''}`,
    })),
    ...f.manualJobs.map((j) => ({ type: 'TextBlock', wrap: true, text: `[${j.name}](${j.url}) (stage ${j.stage}) waits to be played` })),
  ];
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.2',
          body: [
            { type: 'TextBlock', size: 'Medium', weight: 'Bolder', wrap: true, color: COLOURS[f.event].teams, text: notificationTitle(f) },
            {
              type: 'FactSet',
              facts: [
                { title: 'Repository', value: p.repository },
                { title: 'Ref', value: p.ref },
                { title: 'Commit', value: `${short(p.sha)} ${firstLine(p.commitMessage)}`.trim() },
                { title: 'Status', value: p.status },
              ],
            },
            ...jobBlocks,
          ],
          actions: [{ type: 'Action.OpenUrl', title: 'Open the pipeline', url: p.url }],
        },
      },
    ],
  };
}
