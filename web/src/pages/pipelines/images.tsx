// The images a pipeline's jobs pushed (`artifacts:images`), pinned by digest: what a release of this
// pipeline deploys. Shown only when there are some.
import { useEffect } from 'react';
import { useApi } from '../../api.js';
import { DataTable } from '../../components/common.js';
import { Link } from '../../router.js';
import type { PipelineImagesJson } from '../../types.js';

/** `finishedJobs` changes as jobs end, and a job's images arrive with its end: the list is asked for again. */
export function PipelineImages({ pipelineId, finishedJobs }: { pipelineId: number; finishedJobs: number }) {
  const loaded = useApi<PipelineImagesJson>(finishedJobs > 0 ? `/api/v1/pipelines/${pipelineId}/images` : null);
  const { reload } = loaded;
  useEffect(reload, [finishedJobs, reload]);
  const images = loaded.data?.images ?? [];
  if (images.length === 0) return null;
  return (
    <section aria-labelledby="pipeline-images-heading">
      <h2 id="pipeline-images-heading">Images</h2>
      <DataTable
        rows={images}
        empty={null}
        columns={['Image', 'Digest', 'Pushed as', 'Job']}
        row={(i) => (
          <tr key={`${i.jobId}-${i.image}-${i.ref}`}>
            <td>
              <a href={i.url} target="_blank" rel="noreferrer noopener">
                {i.registry}/{i.repository}
              </a>
            </td>
            <td>
              <code title={i.image}>{i.digest.slice(0, 19)}…</code>
            </td>
            <td>
              <code>{i.ref}</code>
            </td>
            <td>
              <Link to={`/jobs/${i.jobId}`}>{i.jobName}</Link>
            </td>
          </tr>
        )}
      />
    </section>
  );
}
