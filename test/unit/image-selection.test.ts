import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyInstallations, type Installations, type Matching } from '../../src/execution-environments/definition.js';
import { selectEnvironment, type CandidateEnvironment, type SelectionRequest } from '../../src/execution-environments/selection.js';

function env(name: string, versions: { python?: string[]; r?: string[]; quarto?: string[] }, extra: Partial<CandidateEnvironment> = {}): CandidateEnvironment {
  const installations: Installations = emptyInstallations();
  for (const [runtime, list] of Object.entries(versions) as Array<['python' | 'r' | 'quarto', string[]]>) {
    installations[runtime] = list.map((version) => ({ version, path: `/opt/${runtime}/${version}/bin/${runtime === 'r' ? 'R' : runtime}` }));
  }
  return { guid: `guid-${name}`, name, title: name, matching: 'any' as Matching, installations, usable: true, ...extra };
}

function request(environments: CandidateEnvironment[], wants: SelectionRequest['wants'], extra: Partial<SelectionRequest> = {}): SelectionRequest {
  return { wants, environments, matching: { python: 'major-minor', r: 'nearest', quarto: 'nearest' }, publisher: "the content's owner alice", ...extra };
}

describe('image selection', () => {
  const py311 = env('registry.example/content:py3.11', { python: ['3.11.9'] });
  const py312 = env('registry.example/content:py3.12', { python: ['3.12.4', '3.12.1'] });
  const r44 = env('registry.example/content:r4.4-py3.12', { r: ['4.4.1'], python: ['3.12.7'] });

  test('automatic: the closest compatible installation wins, every other image says why it lost', () => {
    const s = selectEnvironment(request([py311, py312, r44], { python: '3.12.2' }));
    assert.ok(s.ok);
    assert.equal(s.source, 'automatic');
    assert.equal(s.environment.name, 'registry.example/content:py3.12');
    assert.equal(s.installations.python?.version, '3.12.1');
    assert.match(s.reason, /Python 3\.12\.1 for 3\.12\.2/);
    const reasons = Object.fromEntries(s.rejected.map((r) => [r.name, r.reason]));
    assert.match(reasons['registry.example/content:py3.11']!, /has no Python matching 3\.12\.2 \(major-minor\): it has 3\.11\.9/);
    assert.match(reasons['registry.example/content:r4.4-py3.12']!, /closer \(Python 3\.12\.7 vs Python 3\.12\.1\)/);
  });

  test('ties: equally close → newest installations, then image name; the order of the input does not matter', () => {
    const a = env('b.example/img:1', { python: ['3.12.3'] });
    const b = env('a.example/img:1', { python: ['3.12.5'] });
    const s = selectEnvironment(request([a, b], { python: '3.12.4' }));
    assert.ok(s.ok);
    assert.equal(s.environment.name, 'a.example/img:1', 'same distance: the newer 3.12.5 wins');
    const c = env('z.example/img:1', { python: ['3.12.5'] });
    for (const order of [
      [b, c],
      [c, b],
    ]) {
      const t = selectEnvironment(request(order, { python: '3.12.4' }));
      assert.ok(t.ok);
      assert.equal(t.environment.name, 'a.example/img:1');
      assert.match(t.rejected[0]!.reason, /comes first by image name/);
    }
  });

  test('several runtimes: distances add up; a missing runtime rejects the image', () => {
    const both = env('img/both:1', { python: ['3.12.4'], r: ['4.3.2'] });
    const pyOnly = env('img/py:1', { python: ['3.12.4'] });
    const s = selectEnvironment(request([both, pyOnly], { python: '3.12.4', r: '4.4.0' }));
    assert.ok(s.ok);
    assert.equal(s.environment.name, 'img/both:1');
    assert.equal(s.installations.r?.version, '4.3.2');
    assert.deepEqual(s.rejected, [{ guid: 'guid-img/py:1', name: 'img/py:1', reason: 'has no R installation' }]);
  });

  test('matching exact and none, and restricted environments, are never picked automatically', () => {
    const exact = env('img/exact:1', { python: ['3.12.4'] }, { matching: 'exact' });
    const none = env('img/none:1', { python: ['3.12.4'] }, { matching: 'none' });
    const restricted = env('img/restricted:1', { python: ['3.12.4'] }, { usable: false });
    const s = selectEnvironment(request([exact, none, restricted], { python: '3.12.4' }));
    assert.equal(s.ok, false);
    assert.ok(!s.ok);
    assert.equal(s.error, 'No execution environment can run this bundle, which needs Python 3.12.4. Images considered: img/exact:1, img/none:1, img/restricted:1.');
    assert.deepEqual(
      s.rejected.map((r) => r.reason),
      ['used only when a manifest or default_image_name names it (matching: exact)', 'disabled (matching: none)', "the content's owner alice may not use it"],
    );
  });

  test('no environments at all: the error says so', () => {
    const s = selectEnvironment(request([], { python: '3.11.2', quarto: undefined }));
    assert.ok(!s.ok);
    assert.equal(s.error, 'No execution environment can run this bundle, which needs Python 3.11.2, any Quarto. Images considered: none are defined.');
  });

  test('the manifest image comes first, even with matching exact, and beats default_image_name', () => {
    const exact = env('img/exact:1', { python: ['3.12.4'] }, { matching: 'exact' });
    const s = selectEnvironment(request([py312, exact], { python: '3.12.4' }, { manifestImage: 'img/exact:1', defaultImageName: py312.name }));
    assert.ok(s.ok);
    assert.equal(s.source, 'manifest');
    assert.equal(s.environment.name, 'img/exact:1');
    assert.match(s.rejected[0]!.reason, /manifest \(environment\.image\) names img\/exact:1/);
  });

  test('the image the live bundle was deployed in is kept over everything else, and its loss is explained', () => {
    const s = selectEnvironment(request([py311, py312], { python: '3.12.4' }, { deployedImage: py311.name, manifestImage: py312.name, defaultImageName: py312.name, wants: { python: undefined } }));
    assert.ok(s.ok);
    assert.equal(s.source, 'deployed');
    assert.equal(s.environment.name, py311.name);
    const gone = selectEnvironment(request([py312], { python: '3.12.4' }, { deployedImage: py311.name }));
    assert.ok(!gone.ok);
    assert.equal(
      gone.error,
      "The content's last deployment names image registry.example/content:py3.11, but it is not an execution environment of this server (it has registry.example/content:py3.12). Deploy the content again to choose another image.",
    );
  });

  test('default_image_name is used when the manifest names no image', () => {
    const s = selectEnvironment(request([py311, py312], { python: '3.12.4' }, { defaultImageName: py312.name }));
    assert.ok(s.ok);
    assert.equal(s.source, 'default_image_name');
    assert.equal(s.environment.name, py312.name);
  });

  test('a named image that is missing, disabled, not allowed or incompatible fails with the reason', () => {
    const cases: Array<[CandidateEnvironment[], string, RegExp]> = [
      [[py311], 'img/missing:1', /names image img\/missing:1, but it is not an execution environment of this server \(it has registry.example\/content:py3.11\)/],
      [[env('img/off:1', { python: ['3.12.4'] }, { matching: 'none' })], 'img/off:1', /disabled \(matching: none\)/],
      [[env('img/private:1', { python: ['3.12.4'] }, { usable: false })], 'img/private:1', /alice may not use that environment/],
      [[py311], py311.name, /it has no Python matching 3\.12\.4 \(major-minor\): it has 3\.11\.9; the bundle needs Python 3\.12\.4/],
    ];
    for (const [envs, image, message] of cases) {
      const s = selectEnvironment(request(envs, { python: '3.12.4' }, { manifestImage: image }));
      assert.ok(!s.ok);
      assert.equal(s.source, 'manifest');
      assert.match(s.error, message);
    }
  });

  test('version matching follows [Python] / [R] VersionMatching', () => {
    const envs = [env('img/r43:1', { r: ['4.3.3'] }), env('img/r44:1', { r: ['4.4.1'] })];
    const nearest = selectEnvironment(request(envs, { r: '4.4.0' }));
    assert.ok(nearest.ok);
    assert.equal(nearest.environment.name, 'img/r44:1');
    const exact = selectEnvironment(request(envs, { r: '4.4.0' }, { matching: { python: 'major-minor', r: 'exact', quarto: 'nearest' } }));
    assert.ok(!exact.ok);
    assert.match(exact.error, /needs R 4\.4\.0/);
    const anyPython = selectEnvironment(request([py311, py312], { python: '3.9.1' }, { matching: { python: 'nearest', r: 'nearest', quarto: 'nearest' } }));
    assert.ok(anyPython.ok);
    assert.equal(anyPython.environment.name, 'registry.example/content:py3.11');
  });

  test('no version requested: the newest installation of each usable image; image name breaks ties', () => {
    const s = selectEnvironment(request([py311, py312], { python: undefined }));
    assert.ok(s.ok);
    assert.equal(s.environment.name, 'registry.example/content:py3.12');
    assert.equal(s.installations.python?.version, '3.12.4');
  });
});
