// Git-backed content: Connect's v1/content/{guid}/repository and its bundle route.
import { Type, type Static } from 'typebox';
import { ABSENT_BODY_IS_EMPTY, Nullable } from './common.js';

const repository = Type.String({ description: 'The repository URL: https:// (or http://).', minLength: 1 });
const branch = Type.String({ description: 'The branch deployed (and polled); a tag or a full commit id is deployed as it stands.', minLength: 1 });
const directory = Type.String({ description: 'The directory holding manifest.json, relative to the repository root ("." = the root).' });
const polling = Type.Boolean({ description: 'Whether the branch is checked every [Git] PollingFrequency and a new commit deployed.' });

/** Connect's repository record. */
export const ContentRepository = Type.Object(
  {
    repository: Type.String(),
    branch: Type.String(),
    directory: Type.String(),
    polling: Type.Boolean(),
    last_error: Nullable(Type.String({ description: 'Why the last fetch or check of the branch failed; null when it succeeded.' })),
    last_known_commit: Nullable(Type.String({ description: 'The commit the last fetch or check found.' })),
    last_fetched_time: Nullable(Type.String({ description: 'When the branch was last fetched or checked.' })),
  },
  { additionalProperties: false },
);

/** PUT: link (or re-link) the content to a repository. */
export const RepositoryPut = Type.Object(
  { repository, branch: Type.Optional(branch), directory: Type.Optional(directory), polling: Type.Optional(polling) },
  { description: 'branch defaults to "main", directory to ".", polling to false.' },
);
export type RepositoryPut = Static<typeof RepositoryPut>;

/** PATCH: change some fields. */
export const RepositoryPatch = Type.Object({ repository: Type.Optional(repository), branch: Type.Optional(branch), directory: Type.Optional(directory), polling: Type.Optional(polling) });
export type RepositoryPatch = Static<typeof RepositoryPatch>;

/** POST …/repository/bundle: a bundle from the linked location, or from the one given. */
export const RepositoryBundleBody = Type.Object(
  {
    repository: Type.Optional(repository),
    ref: Type.Optional(Type.String({ description: 'A branch, a tag or a full commit id; default: the linked branch.', minLength: 1 })),
    directory: Type.Optional(directory),
  },
  { [ABSENT_BODY_IS_EMPTY]: true },
);
export type RepositoryBundleBody = Static<typeof RepositoryBundleBody>;

export const RepositoryBundle = Type.Object(
  {
    bundle_id: Type.String(),
    task_id: Type.String({ description: 'The finished task that fetched the repository; its output is the log.' }),
    location: Type.Object(
      { repository: Type.String(), ref: Type.String(), directory: Type.String(), commit: Type.String() },
      { additionalProperties: false, description: 'Where the bundle came from.' },
    ),
  },
  { additionalProperties: false },
);

/** GET /__api__/repo/account, …/branches and …/manifest-dirs (Connect's unversioned git helpers). */
export const RepoHelperQuery = Type.Object({
  url: Type.String({ description: 'The repository URL (for account: scheme and host, e.g. https://github.com).', minLength: 1 }),
  branch: Type.Optional(Type.String({ description: 'manifest-dirs: the branch to look in.', minLength: 1 })),
});
export type RepoHelperQuery = Static<typeof RepoHelperQuery>;

export const RepoAccount = Type.Object(
  { username: Type.String({ description: 'The [GitCredential] user name for the host; "" when Lectern fetches from it anonymously.' }) },
  { additionalProperties: false },
);
