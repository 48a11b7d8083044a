import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { fetchContent } from '../support/apps.js';
import { rShinyScenario } from '../support/content-scenarios.js';
import { executionSettings } from '../support/execution.js';
import { startLectern, type TestServer } from '../support/lectern.js';
import { buildRRepository, deployRBundle, installedPackageEntries, rBundle, serveDirectory, type RPackageEntry } from '../support/r-bundles.js';

// R content with real R (Debian's R, shiny, plumber, rmarkdown; scripts/deps/r.sh installs them):
// bundles as rsconnect builds them, uploaded and deployed through the v1 API, run by runtime/R in the
// sandbox and reached through the proxy. The manifests list each package's whole dependency closure,
// as rsconnect does; CRAN is not reachable here, so restores must reuse the site library's copies.

const wsUrl = (t: TestServer, guid: string) => `${t.url.replace(/^http/, 'ws')}/content/${guid}/websocket/`;

function deployed(result: { code: number; error: string; output: string[] }) {
  assert.equal(result.code, 0, `${result.error}\n${result.output.join('\n')}`);
}

const PLUMBER_API = `
#* Adds two numbers
#* @param a:dbl
#* @param b:dbl
#* @get /sum
function(a, b) {
  list(total = as.numeric(a) + as.numeric(b))
}

#* Summary statistics of the posted numbers
#* @post /stats
function(req) {
  x <- unlist(jsonlite::fromJSON(req$postBody))
  list(n = length(x), mean = mean(x), sd = round(sd(x), 4), r = R.version.string)
}

#* @get /prefix
function(req) {
  list(prefix = req$HTTP_X_FORWARDED_PREFIX, path = req$PATH_INFO)
}
`;

const REPORT_RMD = `---
title: "Squares"
output: html_document
---

\`\`\`{r compute}
x <- 1:10
total <- sum(x^2)
\`\`\`

The sum of the first ten squares is **\`r total\`**, computed with R \`r getRversion()\`.

\`\`\`{r figure, fig.width = 4, fig.height = 3}
plot(x, x^2, type = "b")
\`\`\`

The data is in [data.csv](data.csv).
`;

const SHINY_DOC = `---
title: "Cubes"
runtime: shiny
output: html_document
---

\`\`\`{r, echo = FALSE}
numericInput("n", "A number", 2)
renderText(paste("cube:", input$n^3))
\`\`\`
`;

/**
 * A Shiny session on a document with runtime: shiny, played the way a browser plays it: the document
 * arrives as the output __reactivedoc__, whose HTML holds outputs with generated ids; the client then
 * reports those visible (R Shiny computes only visible outputs) and waits for one containing `expected`.
 */
async function shinyDocumentValue(t: TestServer, url: string, inputs: Record<string, unknown>, expected: string): Promise<string> {
  const ws = new WebSocket(url, { headers: { authorization: `Key ${t.adminKey}` } });
  try {
    return await new Promise<string>((resolve, reject) => {
      const seen: string[] = [];
      const timer = setTimeout(() => reject(new Error(`no output containing ${expected} within 90 s; messages:\n${seen.join('\n')}`)), 90_000);
      const init = { ...inputs, '.clientdata_output___reactivedoc___hidden': false, '.clientdata_url_hostname': '127.0.0.1', '.clientdata_allowDataUriScheme': true };
      ws.on('open', () => ws.send(JSON.stringify({ method: 'init', data: init })));
      ws.on('message', (raw) => {
        const text = raw.toString();
        seen.push(text.slice(0, 300));
        let message: { values?: Record<string, unknown> };
        try {
          message = JSON.parse(text);
        } catch {
          return;
        }
        for (const [name, value] of Object.entries(message.values ?? {})) {
          const html = typeof value === 'string' ? value : ((value as { html?: string } | null)?.html ?? '');
          if (name === '__reactivedoc__') {
            const ids = [...html.matchAll(/id="([^"]+)" class="shiny-text-output/g)].map((m) => m[1]!);
            ws.send(JSON.stringify({ method: 'update', data: Object.fromEntries(ids.map((id) => [`.clientdata_output_${id}_hidden`, false])) }));
          } else if (html.includes(expected)) {
            clearTimeout(timer);
            resolve(html);
          }
        }
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.on('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`websocket upgrade refused: ${res.statusCode}`));
      });
    });
  } finally {
    ws.close();
  }
}

describe('R content: Shiny, Plumber and R Markdown with real R', () => {
  let t: TestServer;
  let shinyPackages: Record<string, RPackageEntry>;
  let plumberPackages: Record<string, RPackageEntry>;
  let rmarkdownPackages: Record<string, RPackageEntry>;

  before(async () => {
    t = await startLectern('sqlite', executionSettings({ r: true }));
    [shinyPackages, plumberPackages, rmarkdownPackages] = await Promise.all([
      installedPackageEntries(['shiny']),
      installedPackageEntries(['plumber', 'jsonlite']),
      installedPackageEntries(['rmarkdown', 'shiny']),
    ]);
  });
  after(async () => t?.stop());

  it('runs a Shiny app that completes a websocket session through the proxy, under its prefix', async () => {
    await rShinyScenario(t, shinyPackages);
  });

  it('serves a Plumber API returning computed JSON, with its OpenAPI docs under the prefix', async () => {
    const result = await deployRBundle(t, 'r-plumber', await rBundle({ appmode: 'api', files: { 'plumber.R': PLUMBER_API }, packages: plumberPackages }));
    deployed(result);
    const sum = await fetchContent(t, result.guid, 'sum?a=20&b=22');
    assert.equal(sum.status, 200);
    assert.deepEqual(await sum.json(), { total: [42] });

    const stats = await fetchContent(t, result.guid, 'stats', { method: 'POST', body: JSON.stringify([2, 4, 4, 4, 5, 5, 7, 9]), headers: { 'content-type': 'application/json' } });
    assert.equal(stats.status, 200);
    const body = (await stats.json()) as { n: number[]; mean: number[]; sd: number[]; r: string[] };
    assert.deepEqual([body.n[0], body.mean[0], body.sd[0]], [8, 5, 2.1381]);
    assert.match(body.r[0]!, /^R version 4/);

    const where = (await (await fetchContent(t, result.guid, 'prefix')).json()) as { prefix: string[]; path: string[] };
    assert.deepEqual(where, { prefix: [`/content/${result.guid}`], path: ['/prefix'] });

    const docs = await fetchContent(t, result.guid, '__docs__/');
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger/i);
    // plumber names the server in the OpenAPI document from the docs page's Referer, the public URL.
    const spec = await fetchContent(t, result.guid, 'openapi.json', { headers: { referer: `${t.url}/content/${result.guid}/__docs__/` } });
    const openapi = (await spec.json()) as { servers: Array<{ url: string }>; paths: Record<string, unknown> };
    assert.equal(openapi.servers[0]!.url, `${t.url}/content/${result.guid}/`);
    assert.ok('/sum' in openapi.paths);
  });

  it("renders an R Markdown report on the server, with computed output, as the content's index.html", async () => {
    const files = { 'report.Rmd': REPORT_RMD, 'data.csv': 'x,y\n1,1\n2,4\n' };
    const result = await deployRBundle(t, 'r-report', await rBundle({ appmode: 'rmd-static', files, primaryRmd: 'report.Rmd', packages: rmarkdownPackages }));
    deployed(result);
    assert.ok(
      result.output.some((l) => /Output created: report\.html/.test(l)),
      result.output.join('\n'),
    );
    const page = await fetchContent(t, result.guid, '');
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /The sum of the first ten squares is <strong>385<\/strong>,\s+computed\s+with\s+R\s+4\./);
    // The figure is embedded (self-contained by default).
    assert.match(html, /<img src="data:image\/png;base64,/);
    const data = await fetchContent(t, result.guid, 'data.csv');
    assert.equal(data.status, 200);
    assert.equal(await data.text(), files['data.csv']);
  });

  it('runs an R Markdown document with runtime: shiny from a writable copy of its read-only bundle', async () => {
    const result = await deployRBundle(t, 'r-shiny-doc', await rBundle({ appmode: 'rmd-shiny', files: { 'index.Rmd': SHINY_DOC }, primaryRmd: 'index.Rmd', packages: rmarkdownPackages }));
    deployed(result);
    const page = await fetchContent(t, result.guid, '');
    assert.equal(page.status, 200);
    assert.match(await page.text(), /__reactivedoc__/);
    const value = await shinyDocumentValue(t, wsUrl(t, result.guid), { n: 4 }, 'cube: 64');
    assert.match(value, /cube: 64/);
  });

  it("fails the deploy with R's message when the app cannot start", async () => {
    const broken = `library(shiny)\nstop("the data file is missing")\n`;
    const result = await deployRBundle(t, 'r-broken', await rBundle({ appmode: 'shiny', files: { 'app.R': broken }, packages: shinyPackages }));
    // The deploy starts the new bundle's first worker; its last output reaches the publisher.
    assert.notEqual(result.code, 0, result.output.join('\n'));
    assert.match(result.error, /did not start/);
    assert.match(result.output.join('\n'), /Loading the Shiny application failed: the data file is missing/);
  });

  it('fails the deploy of a Plumber bundle without plumber.R, saying what is missing', async () => {
    const result = await deployRBundle(t, 'r-no-api', await rBundle({ appmode: 'api', files: { 'api.R': PLUMBER_API }, packages: plumberPackages }));
    assert.notEqual(result.code, 0, result.output.join('\n'));
    assert.match(result.output.join('\n'), /a Plumber API needs plumber\.R \(or entrypoint\.R returning a router\)/);
  });
});

describe('R package restore from repositories', () => {
  let t: TestServer;
  let repoDir: string;
  let ownRepo: Awaited<ReturnType<typeof serveDirectory>>;
  let serverRepo: Awaited<ReturnType<typeof serveDirectory>>;
  let plumberPackages: Record<string, RPackageEntry>;
  let descriptions: Map<string, Record<string, string>>;

  // tinypkg 0.1.0 is archived (src/contrib/Archive), 0.2.0 is current; each tells its version apart.
  const TINY = (version: string) => `double_it <- function(x) x * 2\ntiny_version <- function() "${version}"\n`;
  const API_USING_TINYPKG = `
#* @get /double
function(x) {
  list(result = tinypkg::double_it(as.numeric(x)), version = tinypkg::tiny_version(),
       library = dirname(find.package("tinypkg")), plumber = dirname(find.package("plumber")))
}
`;

  before(async () => {
    ({ dir: repoDir, descriptions } = await buildRRepository([
      { name: 'tinypkg', version: '0.1.0', code: TINY('0.1.0') },
      { name: 'tinypkg', version: '0.2.0', code: TINY('0.2.0') },
      { name: 'brokenpkg', version: '1.0', code: 'broken <- function( {\n' },
    ]));
    // The same repository under two URLs: one named in the manifest, one as the server's [R] Repository.
    [ownRepo, serverRepo] = await Promise.all([serveDirectory(repoDir), serveDirectory(repoDir)]);
    // The repositories listen on the host's 127.0.0.1, which network isolation keeps restores from.
    t = await startLectern('sqlite', { ...executionSettings({ r: true }), 'R.Repository': serverRepo.url, 'Applications.NetworkIsolation': 'false' });
    plumberPackages = await installedPackageEntries(['plumber']);
  });
  after(async () => {
    await t?.stop();
    await ownRepo?.close();
    await serverRepo?.close();
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  });

  const tinyEntry = (version: string, repository: string | null): RPackageEntry => ({
    Source: repository ? 'lectern-test' : null,
    Repository: repository,
    description: descriptions.get(`tinypkg@${version}`)!,
  });

  it('installs a package from the repository its manifest entry names, reusing the site library for the rest', async () => {
    const packages = { ...plumberPackages, tinypkg: tinyEntry('0.2.0', ownRepo.url) };
    const result = await deployRBundle(t, 'r-restore', await rBundle({ appmode: 'api', files: { 'plumber.R': API_USING_TINYPKG }, packages }));
    deployed(result);
    const log = result.output.join('\n');
    assert.match(log, /reusing plumber \S+ from \/usr\/lib\/R\/site-library/);
    assert.match(log, new RegExp(`installing tinypkg 0\\.2\\.0 from ${ownRepo.url}`));
    assert.match(log, /DONE \(tinypkg\)/);
    assert.ok(
      ownRepo.requests.some((p) => p.endsWith('/src/contrib/tinypkg_0.2.0.tar.gz')),
      ownRepo.requests.join('\n'),
    );

    const answer = (await (await fetchContent(t, result.guid, 'double?x=21')).json()) as Record<string, string[] | number[]>;
    assert.deepEqual(answer.result, [42]);
    assert.deepEqual(answer.version, ['0.2.0']);
    // tinypkg comes from the content's restored library, plumber from the site library.
    assert.ok(!String(answer.library![0]).startsWith('/usr/'), `tinypkg loaded from ${answer.library}`);
    assert.equal(answer.plumber![0], '/usr/lib/R/site-library');
  });

  it("finds an archived version through the server's R.Repository when the manifest names no repository", async () => {
    const packages = { ...plumberPackages, tinypkg: tinyEntry('0.1.0', null) };
    const result = await deployRBundle(t, 'r-restore-archive', await rBundle({ appmode: 'api', files: { 'plumber.R': API_USING_TINYPKG }, packages }));
    deployed(result);
    assert.match(result.output.join('\n'), new RegExp(`installing tinypkg 0\\.1\\.0 from ${serverRepo.url} \\(archive\\)`));
    assert.ok(
      serverRepo.requests.some((p) => p === '/src/contrib/Archive/tinypkg/tinypkg_0.1.0.tar.gz'),
      serverRepo.requests.join('\n'),
    );
    const answer = (await (await fetchContent(t, result.guid, 'double?x=5')).json()) as Record<string, unknown[]>;
    assert.deepEqual(answer.result, [10]);
    assert.deepEqual(answer.version, ['0.1.0']);
  });

  it("fails the deploy with R's own message when a package is in no repository", async () => {
    const packages = {
      ...plumberPackages,
      notapkg: { Source: 'lectern-test', Repository: ownRepo.url, description: { Package: 'notapkg', Version: '9.9.9', Title: 'Not a package' } },
    };
    const result = await deployRBundle(t, 'r-restore-missing', await rBundle({ appmode: 'api', files: { 'plumber.R': API_USING_TINYPKG }, packages }));
    assert.notEqual(result.code, 0, result.output.join('\n'));
    assert.match(result.error, /Restoring the environment failed/);
    const tail = result.output.slice(-12).join('\n');
    assert.match(tail, /cannot restore 1 R package: notapkg/);
    assert.match(tail, /package ‘notapkg’ is not available for this version of R/);
  });

  it("fails the deploy with R CMD INSTALL's error as the last lines when a package does not build", async () => {
    const packages = {
      ...plumberPackages,
      tinypkg: tinyEntry('0.2.0', ownRepo.url),
      brokenpkg: { Source: 'lectern-test', Repository: ownRepo.url, description: descriptions.get('brokenpkg@1.0')! },
    };
    const result = await deployRBundle(t, 'r-restore-broken', await rBundle({ appmode: 'api', files: { 'plumber.R': API_USING_TINYPKG }, packages }));
    assert.notEqual(result.code, 0, result.output.join('\n'));
    const tail = result.output.slice(-16).join('\n');
    assert.match(tail, /unexpected '\{'/);
    assert.match(tail, /ERROR: unable to collate and parse R files for package ‘brokenpkg’/);
    assert.match(tail, /installing brokenpkg failed/);
  });
});
