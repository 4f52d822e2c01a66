import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseS3Url, S3UrlError } from '../../src/artifacts/index.js';

test('s3:// URLs: bucket, prefix and the settings of S3-compatible stores', () => {
  assert.deepEqual(parseS3Url('s3://ci-artifacts/tandem/prod?region=eu-west-1'), {
    bucket: 'ci-artifacts',
    prefix: 'tandem/prod/',
    endpoint: undefined,
    region: 'eu-west-1',
    forcePathStyle: false,
  });
  assert.deepEqual(parseS3Url('s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1'), {
    bucket: 'bucket',
    prefix: '',
    endpoint: 'http://127.0.0.1:9000',
    region: 'us-east-1',
    forcePathStyle: true,
  });
  assert.equal(parseS3Url('s3://bucket/p?endpoint=https://minio.internal&forcePathStyle=false&region=x').forcePathStyle, false);
});

test('bad s3:// URLs are refused, naming the setting and the problem', () => {
  const cases: [string, RegExp][] = [
    ['s3://Bad_Bucket/x', /^artifactsUrl ".*": ".*" is not a valid bucket name/],
    ['s3://key:secret@bucket/x', /artifactsUrl: credentials do not belong in the URL/],
    ['s3://bucket/a/../b', /must not contain "\." or "\.\." segments/],
    ['s3://bucket/x?endpoint=ftp://host', /endpoint "ftp:\/\/host" must be http\(s\):\/\/host\[:port\]/],
    ['s3://bucket/x?style=path', /unknown parameter "style"/],
    ['s3://bucket/x?forcePathStyle=yes', /forcePathStyle must be true or false/],
  ];
  for (const [url, message] of cases) {
    assert.throws(
      () => parseS3Url(url, 'artifactsUrl'),
      (err: Error) => err instanceof S3UrlError && message.test(err.message),
      url,
    );
  }
});
