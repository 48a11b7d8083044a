import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { executionSettings } from '../support/execution.js';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';
import { R_BIN } from '../support/r-bundles.js';

after(stopPostgres);

// The R rsconnect package publishes to Lectern as an R user does from the console: addServer,
// connectApiUser with an API key, then deployApp / deployDoc / deployAPI. The version is Debian's
// (0.8.29, installed by scripts/deps/r.sh): CRAN is not reachable from the project's machines, so
// the current 1.x releases (and connectapi, which Debian does not package) cannot be installed here.
// 0.8.29 publishes through the legacy /__api__/applications surface, which current R releases still
// use to find and redeploy an app.

const run = promisify(execFile);

const SHINY_APP = `library(shiny)
ui <- fluidPage(h1("Hello from R rsconnect"), textOutput("n"))
server <- function(input, output) { output$n <- renderText(21 * 2) }
shinyApp(ui, server)
`;

const REPORT = `---
title: "R report"
output: html_document
---
The answer is \`r 6 * 7\`.
`;

const API = `#* @get /sum
function(a, b) list(total = as.numeric(a) + as.numeric(b))
`;

interface Content {
  guid: string;
  name: string;
  app_mode: string;
  bundle_id: string | null;
}

// One database: what R sends reaches the same routes on both, and the API tests run those on both;
// each R deploy costs a restore and a render, so a second database would double minutes, not cover more.
for (const provider of PROVIDERS.slice(0, 1)) {
  describe(`the rsconnect R package publishes R content (${provider})`, () => {
    let t: TestServer;
    let work: string;

    before(async () => {
      t = await startLectern(provider, executionSettings({ r: true }));
      work = await mkdtemp(path.join(os.tmpdir(), 'lectern-rsconnect-r-'));
      await mkdir(path.join(work, 'home'));
      for (const [dir, file, text] of [
        ['app', 'app.R', SHINY_APP],
        ['doc', 'report.Rmd', REPORT],
        ['api', 'plumber.R', API],
      ] as const) {
        await mkdir(path.join(work, dir));
        await writeFile(path.join(work, dir, file), text);
      }
    });
    after(async () => {
      await t.stop();
      await rm(work, { recursive: true, force: true });
    });

    /** Runs R code after registering the server and the admin's key, as the user's own R session would. */
    async function r(code: string): Promise<string> {
      const script = `options(repos = c(CRAN = "https://cloud.r-project.org"))
rsconnect::addServer("${t.url}/__api__", name = "lectern", quiet = TRUE)
rsconnect::connectApiUser(account = "admin", server = "lectern", apiKey = "${t.adminKey}", quiet = TRUE)
${code}`;
      try {
        const { stdout, stderr } = await run(path.join(path.dirname(R_BIN), 'Rscript'), ['--vanilla', '-e', script], {
          env: { ...process.env, HOME: path.join(work, 'home'), R_USER_CONFIG_DIR: path.join(work, 'home', '.config') },
          timeout: 300_000,
          maxBuffer: 16 * 1024 * 1024,
        });
        return stdout + stderr;
      } catch (error) {
        const failed = error as { stdout?: string; stderr?: string; message: string };
        throw new Error(`R failed: ${failed.message}\n${failed.stdout ?? ''}\n${failed.stderr ?? ''}`);
      }
    }

    const deploy = (call: string, dir: string, name: string) =>
      r(
        `rsconnect::${call}("${path.join(work, dir)}${call === 'deployDoc' ? '/report.Rmd' : ''}", appName = "${name}", server = "lectern", account = "admin", launch.browser = FALSE, forceUpdate = TRUE, logLevel = "quiet")`,
      );

    async function byName(name: string): Promise<Content[]> {
      return (await (await t.api(`/__api__/v1/content?name=${name}`)).json()) as Content[];
    }

    test('deployApp publishes a Shiny app, and a second deployApp updates the same content', async () => {
      await deploy('deployApp', 'app', 'r-shiny-app');
      const [first] = await byName('r-shiny-app');
      assert.equal(first?.app_mode, 'shiny');
      const page = await t.api(`/content/${first.guid}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /Hello from R rsconnect/);

      await writeFile(path.join(work, 'app', 'app.R'), SHINY_APP.replace('Hello from R rsconnect', 'Second version'));
      await deploy('deployApp', 'app', 'r-shiny-app');
      const again = await byName('r-shiny-app');
      assert.equal(again.length, 1, 'the redeploy found the app by name and reused it');
      assert.notEqual(again[0]!.bundle_id, first.bundle_id);
      assert.match(await (await t.api(`/content/${first.guid}/`)).text(), /Second version/);
    });

    test('deployDoc renders an R Markdown report on the server', async () => {
      await deploy('deployDoc', 'doc', 'r-report');
      const [doc] = await byName('r-report');
      assert.equal(doc?.app_mode, 'rmd-static');
      assert.match(await (await t.api(`/content/${doc.guid}/`)).text(), /The answer is 42/);
    });

    test('deployAPI publishes a Plumber API that answers', async () => {
      await deploy('deployAPI', 'api', 'r-plumber-api');
      const [api] = await byName('r-plumber-api');
      assert.equal(api?.app_mode, 'api');
      const res = await t.api(`/content/${api.guid}/sum?a=1&b=2`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { total: [3] });
    });

    test('applications() lists what was published, as rsconnect reads it', async () => {
      const out = await r('apps <- rsconnect::applications(account = "admin", server = "lectern"); cat(sort(apps$name), sep = "\\n")');
      for (const name of ['r-plumber-api', 'r-report', 'r-shiny-app']) assert.match(out, new RegExp(`^${name}$`, 'm'));
    });
  });
}
