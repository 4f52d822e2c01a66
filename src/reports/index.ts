// Test and coverage reports that jobs upload, read on the server: streaming XML, JUnit test
// reports and Cobertura coverage summaries, with their tables.
export * from './cobertura.js';
export * from './coverage-store.js';
export { testCaseKey } from './case-key.js';
export { findTestCases, type FindTestCasesInput, type FoundTestCase } from './find-test-cases.js';
export { listFlakyTests, type ListFlakyTestsInput } from './list-flaky-tests.js';
export { MAX_QUARANTINED_NAMES, quarantinedTests } from './quarantine.js';
export { DEFAULT_JUNIT_LIMITS, readJunit, type JunitCase, type JunitLimits } from './junit.js';
export {
  DEFAULT_HISTORY_RUNS,
  MAX_HISTORY_RUNS,
  readTestHistory,
  type ReadTestHistoryInput,
  type TestHistory,
  type TestRun,
} from './read-test-history.js';
export { readTestReport, type JobTestReport, type ReadTestReportInput, type TestReport, type TestSummary } from './read-test-report.js';
export { recordFlakyTests, type RecordFlakyTestsInput } from './record-flaky-tests.js';
export {
  MAX_JUNIT_JOB_BYTES,
  MAX_STORED_CASES,
  saveJunitReports,
  type JunitReportFile,
  type SaveJunitReportsInput,
} from './save-junit-reports.js';
export { DEFAULT_XML_LIMITS, readXml, XmlReportError, type XmlHandlers, type XmlLimits } from './xml.js';
