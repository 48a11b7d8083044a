import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DiscoveryPlace, findExecutables, usualPlaces } from '../../src/runtimes/discovery.js';
import { Interpreters } from '../../src/runtimes/interpreters.js';

// Issue #14 item 4: interpreters installed in the usual places are found besides the configured
// ones. The places here are a fake tree of small shell scripts that answer Lectern's probes as the
// real interpreters would (a version, then paths), so the test controls what is "installed".

/** A fake python3: prints its version, sys.executable ($0), sys.base_prefix and sys.prefix. */
const fakePython = (version: string, prefix: string) => `#!/bin/sh\necho ${version}\necho "$0"\necho ${prefix}\necho ${prefix}\n`;
/** A fake R: prints its version and R.home(). */
const fakeR = (version: string, home: string) => `#!/bin/sh\necho ${version}\necho ${home}\n`;

async function script(file: string, text: string, mode = 0o755) {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  await chmod(file, mode);
}

describe('discovering installed interpreters', () => {
  let root: string;
  let pyenv: string;
  let places: DiscoveryPlace[];
  let configured: string;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lectern-discovery-'));
    pyenv = path.join(root, 'pyenv');
    for (const version of ['3.12.4', '3.9.2']) {
      const prefix = path.join(pyenv, 'versions', version);
      await script(path.join(prefix, 'bin', 'python3'), fakePython(version, prefix));
    }
    await script(path.join(pyenv, 'versions', '2.7.18', 'bin', 'python3'), fakePython('2.7.18', path.join(pyenv, 'versions', '2.7.18')));
    await script(path.join(pyenv, 'versions', 'broken', 'bin', 'python3'), '#!/bin/sh\necho "cannot start" >&2\nexit 1\n');
    await script(path.join(pyenv, 'versions', '3.10.1', 'bin', 'python3'), fakePython('3.10.1', '/x'), 0o644); // not executable
    await script(path.join(pyenv, 'versions', '.hidden', 'bin', 'python3'), fakePython('3.8.1', '/x'));
    // A distribution's versioned python, and the configured python3 that is the same interpreter.
    const bin = path.join(root, 'bin');
    await script(path.join(bin, 'python3.11'), fakePython('3.11.9', '/usr'));
    await script(path.join(bin, 'python3.11-config'), '#!/bin/sh\necho --cflags\n');
    configured = path.join(bin, 'python3');
    await symlink('python3.11', configured);
    places = [...usualPlaces('python', { PYENV_ROOT: pyenv }, '/nonexistent-home').slice(0, 1), [bin, /^python3\.\d+$/]];
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("looks in pyenv's versions under $PYENV_ROOT, else ~/.pyenv, then /opt/python and the distribution's versioned pythons", () => {
    assert.deepEqual(usualPlaces('python', { PYENV_ROOT: pyenv }, '/home/someone')[0], [path.join(pyenv, 'versions'), /^[^.]/, 'bin', 'python3']);
    const fromHome = usualPlaces('python', {}, '/home/someone');
    assert.equal(fromHome[0]![0], '/home/someone/.pyenv/versions');
    assert.deepEqual(
      fromHome.slice(1).map((p) => p[0]),
      ['/opt/python', '/usr/bin', '/usr/local/bin'],
    );
    assert.deepEqual(
      usualPlaces('r').map((p) => p[0]),
      ['/opt/R', '/usr/lib/R/bin/R', '/usr/lib64/R/bin/R', '/usr/local/lib/R/bin/R'],
    );
  });

  it('finds the executable files there, versions in numeric order, skipping hidden entries and files that are not executable', async () => {
    assert.deepEqual(await findExecutables(places), [
      path.join(pyenv, 'versions', '2.7.18', 'bin', 'python3'),
      path.join(pyenv, 'versions', '3.9.2', 'bin', 'python3'),
      path.join(pyenv, 'versions', '3.12.4', 'bin', 'python3'),
      path.join(pyenv, 'versions', 'broken', 'bin', 'python3'),
      path.join(root, 'bin', 'python3.11'),
    ]);
  });

  it('adds what it finds to the configured interpreters: no Python 2, none that fails to start, none twice', async () => {
    const interpreters = await Interpreters.probe({ python: [configured], r: [], quarto: [] }, { python: places });
    assert.deepEqual(
      interpreters.of('python').map((i) => [i.version, i.configured]),
      [
        ['3.11.9', configured],
        ['3.9.2', path.join(pyenv, 'versions', '3.9.2', 'bin', 'python3')],
        ['3.12.4', path.join(pyenv, 'versions', '3.12.4', 'bin', 'python3')],
      ],
    );
    // A bundle asking for 3.12 gets the discovered 3.12; one asking for 3.13 is told what there is.
    assert.equal((await interpreters.find('python', '3.12.1', 'major-minor')).version, '3.12.4');
    await assert.rejects(interpreters.find('python', '3.13.0', 'major-minor'), {
      message: 'The bundle requires Python 3.13.0, but this server has no Python 3.13 ([Python] VersionMatching = major-minor). Installed: 3.12.4, 3.11.9, 3.9.2.',
    });
  });

  it('with discovery off, only the configured interpreters', async () => {
    const interpreters = await Interpreters.probe({ python: [configured], r: [], quarto: [] });
    assert.deepEqual(
      interpreters.of('python').map((i) => i.version),
      ['3.11.9'],
    );
  });

  it('finds a version installed while the server runs when a bundle asks for it', async () => {
    const interpreters = await Interpreters.probe({ python: [configured], r: [], quarto: [] }, { python: places });
    const prefix = path.join(pyenv, 'versions', '3.13.1');
    await script(path.join(prefix, 'bin', 'python3'), fakePython('3.13.1', prefix));
    try {
      const found = await interpreters.find('python', '3.13.0', 'major-minor');
      assert.equal(found.version, '3.13.1');
      assert.equal(found.configured, path.join(prefix, 'bin', 'python3'));
    } finally {
      await rm(prefix, { recursive: true, force: true });
    }
  });

  it('finds R under /opt/R/<version> and Quarto under /opt/quarto/<version> likewise', async () => {
    const rHome = path.join(root, 'opt', 'R', '4.3.2', 'lib', 'R');
    await mkdir(rHome, { recursive: true });
    await script(path.join(root, 'opt', 'R', '4.3.2', 'bin', 'R'), fakeR('4.3.2', rHome));
    await script(path.join(root, 'opt', 'quarto', '1.5.57', 'bin', 'quarto'), '#!/bin/sh\necho 1.5.57\n');
    const interpreters = await Interpreters.probe(
      { python: [], r: [], quarto: [] },
      { r: [[path.join(root, 'opt', 'R'), /^[^.]/, 'bin', 'R']], quarto: [[path.join(root, 'opt', 'quarto'), /^[^.]/, 'bin', 'quarto']] },
    );
    // (An R or Quarto on PATH, as with nothing configured, may come first.)
    const r = interpreters.of('r').find((i) => i.configured.startsWith(root));
    assert.equal(r?.version, '4.3.2');
    assert.equal(r?.executable, path.join(rHome, 'bin', 'Rscript'));
    assert.deepEqual(
      interpreters
        .of('quarto')
        .filter((q) => q.configured.startsWith(root))
        .map((q) => q.version),
      ['1.5.57'],
    );
  });
});
