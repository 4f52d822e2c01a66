// What identifies a test case across pipelines of a repository: its suite, class and name (GitLab's
// unit test key is the same triple). A digest keeps the (repo_id, case_key) index small whatever the
// names' length; the NUL separators keep ("a b", "c") and ("a", "b c") apart.
import { createHash } from 'node:crypto';

export function testCaseKey(testCase: { suite: string; classname: string; name: string }): string {
  return createHash('sha256').update(`${testCase.suite}\0${testCase.classname}\0${testCase.name}`).digest('hex');
}
