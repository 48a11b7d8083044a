import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseClusterDefinition, parseEnvironmentsFile } from '../../src/execution-environments/definition-files.js';
import type { EnvironmentDefinition } from '../../src/execution-environments/definition.js';
import { copyParts, DockerIgnore, parseDockerfile, type Dockerfile, type Stage } from '../support/dockerfile.js';
import { INIT_COMMAND, INIT_IMAGE_RUNTIME_DIR } from '../support/launcher-contract.js';

// deploy/images/: no container engine runs here, so this checks what a build would find and make —
// every COPY source is in the build context, the interpreters the example environments name are
// installed (and run) by the content image, the init image holds runtime/ where the Kubernetes
// launcher copies it from, and every image ends as a non-root numeric user.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (relative: string) => readFileSync(path.join(ROOT, relative), 'utf8');
const dockerfile = (image: string): Dockerfile => parseDockerfile(read(`deploy/images/${image}/Dockerfile`), `deploy/images/${image}/Dockerfile`);
const ignore = new DockerIgnore(read('.dockerignore'));

const finalStage = (file: Dockerfile): Stage => file.stages.at(-1)!;
const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

describe('Dockerfile reader', () => {
  test('joins continuations, expands ARG and ENV, parses exec form and flags, refuses what it does not know', () => {
    const file = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'ARG V=1.2',
        'FROM img:${V} AS one',
        'ARG V',
        'ENV A=x B="y z"',
        'RUN echo $A \\',
        '  ${B} ${V} ${NOPE:-d} $HOME',
        'COPY --from=one --chown=1:1 /a /b c/',
        'CMD ["start", "now"]',
      ].join('\n'),
      'Dockerfile',
    );
    assert.equal(file.stages[0]!.from, 'img:1.2');
    const [, run, copy, cmd] = file.stages[0]!.instructions;
    assert.equal(run!.args, 'echo x y z 1.2 d $HOME');
    assert.equal(run!.line, 6);
    assert.deepEqual(copy!.flags, { from: 'one', chown: '1:1' });
    assert.deepEqual(copyParts(copy!), { sources: ['/a', '/b'], destination: 'c/' });
    assert.deepEqual(cmd!.exec, ['start', 'now']);
    assert.throws(() => parseDockerfile('FROM a\nHEALTHCHECK NONE\n', 'D'), /D:2: instruction HEALTHCHECK is not understood/);
    assert.throws(() => parseDockerfile('RUN true\n', 'D'), /D:1: RUN before the first FROM/);
    assert.throws(() => parseDockerfile('FROM a\nARG X\n', 'D'), /ARG X has no default/);
  });

  test('.dockerignore: directories exclude their contents, ** and !, last rule wins', () => {
    const rules = new DockerIgnore('# c\n/node_modules\ndocs\n**/*.pyc\n*.log\n!keep.log\n');
    assert.ok(rules.excludes('node_modules/x/y.js'));
    assert.ok(rules.excludes('docs'));
    assert.ok(rules.excludes('runtime/python/a/b.pyc'));
    assert.ok(rules.excludes('a.pyc'));
    assert.ok(rules.excludes('server.log'));
    assert.ok(!rules.excludes('keep.log'));
    assert.ok(!rules.excludes('sub/server.log'), '*.log is anchored at the context root');
    assert.ok(!rules.excludes('runtime/python/lectern_run.py'));
  });
});

describe('deploy/images', () => {
  for (const image of ['server', 'init', 'content']) {
    test(`${image}: every COPY source is in the build context (the repository root, minus .dockerignore)`, () => {
      const file = dockerfile(image);
      for (const [index, stage] of file.stages.entries()) {
        for (const copy of all(stage, 'COPY')) {
          const { sources } = copyParts(copy);
          const from = copy.flags.from;
          if (from !== undefined) {
            // From an earlier stage: it must exist, and the path must be under that stage's WORKDIR or absolute.
            const source = file.stages.slice(0, index).find((s) => s.name === from);
            assert.ok(source, `line ${copy.line}: COPY --from=${from} names no earlier stage`);
            const workdir = all(source, 'WORKDIR').at(-1)?.args;
            for (const src of sources) assert.ok(workdir && src.startsWith(`${workdir}/`), `line ${copy.line}: ${src} is not under stage ${from}'s WORKDIR ${workdir}`);
            continue;
          }
          for (const src of sources) {
            assert.ok(!path.isAbsolute(src) && !src.split('/').includes('..'), `line ${copy.line}: ${src} must be inside the context`);
            assert.ok(!ignore.excludes(src), `line ${copy.line}: ${src} is excluded by .dockerignore`);
            assert.ok(ignore.filesIn(ROOT, src).length > 0, `line ${copy.line}: ${src} does not exist in the repository (or every file in it is ignored)`);
          }
        }
      }
    });

    test(`${image}: runs as a non-root numeric user`, () => {
      const user = all(finalStage(dockerfile(image)), 'USER').at(-1);
      assert.ok(user, 'the final stage sets USER');
      // Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
      const match = /^(\d+)(?::(\d+))?$/.exec(user.args);
      assert.ok(match, `USER ${user.args} is not numeric uid[:gid]`);
      assert.notEqual(Number(match[1]), 0);
      assert.notEqual(Number(match[2] ?? 1), 0);
    });
  }

  test('.dockerignore keeps local state and secrets out, and keeps what the server build needs', () => {
    for (const excluded of ['.git/config', 'node_modules/fastify/package.json', '.cache/x', 'dist/app.js', 'data/secret.key', '.env', 'runtime/python/__pycache__/x.pyc']) {
      assert.ok(ignore.excludes(excluded), `${excluded} should not be in the build context`);
    }
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/app.ts', 'bin/lectern.js', 'runtime/python/lectern_run.py', 'runtime/R/run.R']) {
      assert.ok(!ignore.excludes(needed), `${needed} is needed by deploy/images/server/Dockerfile`);
    }
  });

  test('server: builds dist/ with npm ci, ships dist, bin, runtime and production node_modules, starts `lectern start`', () => {
    const file = dockerfile('server');
    assert.equal(file.stages.length, 2, 'a build stage and a runtime stage');
    const [build, runtime] = file.stages as [Stage, Stage];
    const runs = all(build, 'RUN')
      .map((r) => r.args)
      .join('\n');
    assert.match(runs, /npm ci\b/);
    assert.match(runs, /npm run build/);
    assert.match(runs, /npm prune --omit=dev/);
    const tsconfig = JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string } };
    assert.equal(tsconfig.compilerOptions.outDir, 'dist', 'the build stage copies /build/dist');
    assert.match(runtime.from, /-slim$/);
    const shipped = all(runtime, 'COPY').map((c) => copyParts(c).destination.replace(/\/$/, ''));
    for (const part of ['dist', 'bin', 'runtime', 'node_modules', './package.json']) assert.ok(shipped.includes(part), `${part} is copied into the runtime image (got ${shipped.join(', ')})`);
    // bin/lectern.js imports ../dist/cli/main.js; the runtime dir is found next to dist/.
    assert.match(read('bin/lectern.js'), /\.\.\/dist\/cli\/main\.js/);
    assert.deepEqual(all(runtime, 'ENTRYPOINT')[0]?.exec, ['node', '/opt/lectern/bin/lectern.js']);
    assert.equal(all(runtime, 'WORKDIR').at(-1)?.args, '/opt/lectern');
    assert.deepEqual(all(runtime, 'CMD')[0]?.exec, ['start']);
    const env = all(runtime, 'ENV')
      .map((e) => e.args)
      .join(' ');
    const dataDir = /LECTERN_SERVER_DATADIR=(\S+)/.exec(env)?.[1];
    assert.equal(dataDir, '/var/lib/lectern');
    assert.deepEqual(all(runtime, 'VOLUME')[0]?.exec, [dataDir]);
    // The data dir belongs to the user the image runs as.
    const user = all(runtime, 'USER').at(-1)!.args;
    assert.ok(
      all(runtime, 'RUN').some((r) => r.args.includes(`chown ${user} ${dataDir}`)),
      `${dataDir} is chowned to ${user}`,
    );
    // Build and runtime stages share the Node version, so what npm ci installed for it (native modules) matches.
    assert.equal(build.from.replace(/-bookworm$/, ''), runtime.from.replace(/-bookworm-slim$/, ''));
  });

  test('init: runtime/ at the path the Kubernetes launcher copies from, readable by any user, with cp', () => {
    const file = dockerfile('init');
    assert.equal(file.stages.length, 1);
    const stage = file.stages[0]!;
    assert.match(stage.from, /^docker\.io\/library\/busybox:/, 'busybox provides the cp the init container runs');
    const copies = all(stage, 'COPY').map(copyParts);
    assert.deepEqual(copies, [{ sources: ['runtime/'], destination: `${INIT_IMAGE_RUNTIME_DIR}/` }]);
    assert.ok(all(stage, 'RUN').some((r) => r.args === `chmod -R a+rX ${INIT_IMAGE_RUNTIME_DIR}`));
    // The launcher sets the command; the image must not need an entrypoint of its own.
    assert.equal(all(stage, 'ENTRYPOINT').length, 0);
    assert.equal(INIT_COMMAND[0], 'cp');
    assert.match(read('deploy/images/init/Dockerfile'), new RegExp(INIT_COMMAND.join(' ').replace(/[.]/g, '\\.')), "the header documents the launcher's command");
  });
});

describe('example execution environments (deploy/)', () => {
  const cluster = parseClusterDefinition(read('deploy/cluster-definition.yaml'), 'deploy/cluster-definition.yaml');
  const file = parseEnvironmentsFile(read('deploy/environments.yaml'), 'deploy/environments.yaml');
  const content = dockerfile('content');
  const runs = all(finalStage(content), 'RUN').map((r) => r.args);
  const installations = (defs: EnvironmentDefinition[]) => defs.map((d) => ({ name: d.name, installations: d.installations }));

  test("both files load with Lectern's parsers and describe the same image the same way", () => {
    assert.equal(cluster.length, 1);
    assert.deepEqual(installations(file), installations(cluster));
    assert.equal(file[0]!.matching, 'any');
  });

  test('the content image has two Pythons, R and Quarto, each under /opt/<runtime>/<version>', () => {
    const { python, r, quarto } = cluster[0]!.installations;
    assert.equal(python.length, 2);
    assert.equal(r.length, 1);
    assert.equal(quarto.length, 1);
    for (const [runtime, list, binary] of [
      ['python', python, 'python'],
      ['R', r, 'R'],
      ['quarto', quarto, 'quarto'],
    ] as const) {
      for (const inst of list) assert.equal(inst.path, `/opt/${runtime}/${inst.version}/bin/${binary}`);
    }
  });

  test('every interpreter the definitions name is installed by the content Dockerfile and checked to report its version', () => {
    for (const def of cluster) {
      for (const [runtime, list] of Object.entries(def.installations)) {
        for (const inst of list) {
          // The build runs `<path> --version` and matches the version: a wrong path or version fails the build.
          const check = runs.flatMap((r) => r.split('&&')).find((step) => step.trim().startsWith(`${inst.path} --version`));
          assert.ok(check, `${runtime} ${inst.path}: no RUN step of deploy/images/content/Dockerfile runs "${inst.path} --version"`);
          assert.ok(check.includes(inst.version), `${inst.path}: the version check does not look for ${inst.version}: ${check.trim()}`);
        }
      }
      // The tag names what is inside, so an edited Dockerfile with a stale tag shows.
      for (const inst of [...def.installations.python, ...def.installations.r, ...def.installations.quarto]) {
        assert.ok(def.name.includes(inst.version), `image tag ${def.name} does not mention ${inst.version}`);
      }
    }
  });

  test('each installation comes from the release the Dockerfile downloads for that version', () => {
    const text = runs.join('\n');
    const { python, r, quarto } = cluster[0]!.installations;
    assert.match(text, new RegExp(`cdn\\.posit\\.co/r/\\S+/pkgs/r-${r[0]!.version}_1_amd64\\.deb`));
    const versions = python.map((p) => `"${p.version}"`).join(' ');
    assert.ok(
      runs.some((run) => run.includes(`for v in ${versions}; do`) && run.includes('pkgs/python-${v}_1_amd64.deb')),
      `Pythons ${versions} are downloaded from python-builds`,
    );
    assert.match(text, new RegExp(`quarto-cli/releases/download/v${quarto[0]!.version}/quarto-${quarto[0]!.version}-linux-amd64\\.tar\\.gz`));
    assert.match(text, new RegExp(`tar -xz -C "/opt/quarto/${quarto[0]!.version}" --strip-components=1`));
  });
});
