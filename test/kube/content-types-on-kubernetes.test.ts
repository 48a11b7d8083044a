// The local end-to-end content types again, with Lectern in Kubernetes mode on the test bed: Lectern
// runs outside the cluster (KubernetesAPIURL + token, the documented Role), and every build, render and
// app process is a Job in the image its execution environment names. The scenarios are the ones
// test/e2e/* runs locally (test/support/content-scenarios.ts), published the same way.
// Run: bash scripts/kube-testbed.sh run node --import tsx --test test/kube/content-types-on-kubernetes.test.ts
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchContent } from '../support/apps.js';
import { eventually } from '../support/eventually.js';
import { fastapiScenario, notebookScenario, rShinyScenario, sdkApiScenario, stopWorkerAndExpectKeyRefused, streamlitScenario } from '../support/content-scenarios.js';
import { executionSettings } from '../support/execution.js';
import { contentImage, startKubeLectern, type KubeLectern } from '../support/kube-lectern.js';
import { installedPackageEntries } from '../support/r-bundles.js';

// The test bed's content image (deploy/images/content-debian), set in before().
let IMAGE = '';

describe('content types on Kubernetes', { timeout: 30 * 60_000 }, () => {
  let kube: KubeLectern;
  const t = () => kube.t!;

  before(async () => {
    kube = await startKubeLectern(
      // Builds run in pods, which see only the data dir's volume: the package cache lives in it. Off-host,
      // [Python] UvExecutable names the image's uv.
      (bed) => ({ ...executionSettings({ r: true }), 'Python.PackageCacheDir': '', 'Python.UvExecutable': bed.content.uv }),
      'content-types',
    );
    // The content image with Shiny in its library (test/kube/images/content-shiny), for the R Shiny app.
    const content = contentImage(kube.bed, 'content-shiny');
    IMAGE = content.image;
    const res = await t().api('/__api__/v1/environments', {
      method: 'POST',
      json: {
        title: 'Python and R on the test bed',
        name: IMAGE,
        cluster_name: 'Kubernetes',
        matching: 'any',
        python: { installations: [{ version: content.python.version, path: content.python.path }] },
        r: { installations: [{ version: content.r.version, path: content.r.path }] },
      },
    });
    assert.equal(res.status, 200, await res.text());
  });
  after(async () => kube?.stop());

  /** Every job of the content (builds, renders, workers) ran on Kubernetes in the environment's image, `tags` among them. */
  async function ranAsJobs(guid: string, tags: string[]) {
    const rows = (await (await t().api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ tag: string; cluster: string; image: string }>;
    for (const row of rows) {
      assert.equal(row.cluster, 'Kubernetes', JSON.stringify(row));
      assert.equal(row.image, IMAGE, JSON.stringify(row));
    }
    const seen = rows.map((r) => r.tag);
    for (const tag of tags) assert.ok(seen.includes(tag), `no ${tag} job for ${guid}: ${seen.join(', ')}`);
  }

  it('FastAPI (python-fastapi): built and served by Jobs in the image', async () => {
    const fastapi = await fastapiScenario(t());
    await ranAsJobs(fastapi, ['python_restore', 'run_fastapi_app']);
  });

  it('a new server on the same database and data dir rebuilds a missing environment in a Job on first visit, behind a waiting page', async () => {
    // Its own content, so this test does not depend on the one above having run.
    const fastapi = await fastapiScenario(t());
    // Its deploy may have reused an environment an earlier deploy restored (same requirements, image and owner).
    const restoresBefore = await restoreJobs(fastapi);
    await kube.t!.stop();
    kube.t = undefined;
    // A stopped server hands its workers over (they keep running for the next one): end this one, as
    // when its node went away, so that the next server has to start a worker and finds no environment.
    const worker = `lectern.dev/content-guid=${fastapi},lectern.dev/kind=run`;
    for (const job of (await kube.admin.list(`/apis/batch/v1/namespaces/${kube.namespace}/jobs`, { labelSelector: worker })).items) {
      await kube.admin.delete(`/apis/batch/v1/namespaces/${kube.namespace}/jobs/${job.metadata.name}`, { propagation: 'Background' });
    }
    await eventually('the worker pod to be gone', async () => (await kube.admin.list(`/api/v1/namespaces/${kube.namespace}/pods`, { labelSelector: worker })).items.length === 0, {
      timeoutMs: 60_000,
    });
    await rm(path.join(kube.dataDir, 'envs', 'python'), { recursive: true, force: true });
    await kube.restart();
    const waiting = await fetchContent(t(), fastapi, 'double/21', { headers: { accept: 'text/html' } });
    assert.equal(waiting.status, 503);
    assert.match(await waiting.text(), /being prepared/);
    let res = waiting;
    for (let i = 0; res.status === 503; i++) {
      assert.ok(i < 240, 'not served within 2 minutes of the first visit');
      await new Promise((r) => setTimeout(r, 500));
      res = await fetchContent(t(), fastapi, 'double/21');
    }
    assert.deepEqual(await res.json(), { double: 42 });
    assert.equal(await restoreJobs(fastapi), restoresBefore + 1, 'the missing environment was rebuilt once, in the image, after the visit');
  });

  async function restoreJobs(guid: string): Promise<number> {
    const rows = (await (await t().api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ tag: string; image: string }>;
    return rows.filter((r) => r.tag === 'python_restore' && r.image === IMAGE).length;
  }

  it('Streamlit (python-streamlit): page and its websocket stream from the pod', async () => {
    const guid = await streamlitScenario(t());
    await ranAsJobs(guid, ['python_restore', 'run_streamlit']);
  });

  it('R Shiny: a websocket session computes outputs in the pod', async () => {
    const result = await rShinyScenario(t(), await installedPackageEntries(['shiny']));
    await ranAsJobs(result.guid, ['packrat_restore', 'run_app']);
  });

  it("posit-sdk in a pod calls the API as the content's owner; its key reaches the pod only through the Job's Secret and ends with the pod", async () => {
    const { guid, seen } = await sdkApiScenario(t());
    await ranAsJobs(guid, ['python_restore', 'run_python_api']);
    const worker = `lectern.dev/content-guid=${guid},lectern.dev/kind=run`;
    const jobs = (await kube.admin.list(`/apis/batch/v1/namespaces/${kube.namespace}/jobs`, { labelSelector: worker })).items as unknown as Array<{
      metadata: { name: string };
      spec: { template: { spec: { containers: Array<{ envFrom?: Array<{ secretRef?: { name: string } }> }> } } };
    }>;
    assert.equal(jobs.length, 1);
    const job = jobs[0]!;
    assert.ok(!JSON.stringify(job).includes(seen.key), 'the key is not in the Job spec in clear');
    const secretName = job.spec.template.spec.containers[0]!.envFrom?.find((e) => e.secretRef)?.secretRef?.name;
    assert.ok(secretName, 'the container reads its environment from a Secret');
    const secret = (await kube.admin.get(`/api/v1/namespaces/${kube.namespace}/secrets/${secretName}`)) as unknown as { data: Record<string, string> };
    const value = (name: string) => Buffer.from(secret.data[name] ?? '', 'base64').toString('utf8');
    assert.equal(value('CONNECT_API_KEY'), seen.key);
    assert.equal(value('CONNECT_SERVER'), seen.server, 'what the pod saw is what its Secret holds');
    assert.equal(value('CONNECT_CONTENT_GUID'), guid);
    await stopWorkerAndExpectKeyRefused(t(), guid, seen.key);
  });

  it('Jupyter notebook (jupyter-static): rendered by a Job that calls back into Lectern', async () => {
    const guid = await notebookScenario(t());
    await ranAsJobs(guid, ['python_restore', 'build_jupyter']);
  });

  // No Quarto document here (the placeholder that stood here could only fail): off-host, Quarto
  // must be in the execution environment's image, this test bed's image maps only Python, uv and R
  // from the host, and Quarto cannot be installed on these machines (QUARTO_MISSING in
  // test/support/execution.ts). Quarto rendering is covered locally by test/e2e/python-apps.test.ts
  // when LECTERN_TEST_QUARTO is set.
});
