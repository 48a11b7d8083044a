import type { Kysely } from 'kysely';

type Dialect = 'sqlite' | 'postgres';

/**
 * What an API key may do beyond acting as its user: null = everything its user may (keys the
 * user created); 'visitor' = a key content obtained for its visitor (src/api/visitor-credentials.ts),
 * which cannot manage API keys, so it cannot outlive its expiry through a key it created.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('api_keys').addColumn('scope', 'text').execute();
}
