import type { CompiledQuery, DatabaseConnection, Dialect, Driver, Kysely, OperationNode, QueryResult, TransactionSettings } from 'kysely';

/** Called with the tables a committed write touched; `['*']` means "assume everything changed". */
export type TablesListener = (tables: readonly string[]) => void;

/**
 * Committed writes, by table, from this process and (through `receive`) from other replicas.
 * In-memory copies of rows (see TableCache) listen here so they never outlive the data they copy.
 * A write is reported after its transaction commits, so a reader woken by it sees the new rows.
 */
export class TableChanges {
  private readonly listeners = new Set<TablesListener>();
  private readonly publishers = new Set<TablesListener>();
  private readonly watched = new Set<string>();
  private readonly quiet = new Map<string, Set<string>>();

  /** Listens for changes to `tables`; returns the function that stops listening. */
  watch(tables: readonly string[], listener: TablesListener): () => void {
    for (const t of tables) this.watched.add(t);
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * Declares columns of `table` that no copy of its rows depends on: an UPDATE that sets only
   * these is not reported, so it drops no cache on any replica (a user's last activity, written
   * at most once a minute per user, would otherwise flush every replica's key and session caches).
   */
  quietColumns(table: string, columns: readonly string[]): void {
    const known = this.quiet.get(table) ?? new Set<string>();
    for (const c of columns) known.add(c);
    this.quiet.set(table, known);
  }

  /** The table a statement reports, or undefined for reads, DDL and quiet updates. */
  reportedTable(compiled: CompiledQuery): string | undefined {
    const table = writtenTable(compiled);
    if (!table) return undefined;
    const quiet = this.quiet.get(table);
    if (!quiet) return table;
    const columns = updatedColumns(compiled);
    return columns && columns.length > 0 && columns.every((c) => quiet.has(c)) ? undefined : table;
  }

  /** Sends this process's commits on (to other replicas); only tables someone watches are sent. */
  publishTo(publisher: TablesListener): void {
    this.publishers.add(publisher);
  }

  /** Reports a commit made by this process. */
  committed(tables: Iterable<string>): void {
    const relevant = [...tables].filter((t) => this.watched.has(t));
    if (relevant.length === 0) return;
    this.deliver(relevant);
    for (const publish of this.publishers) publish(relevant);
  }

  /** Reports a commit another replica made (or `['*']` when some may have been missed). */
  receive(tables: readonly string[]): void {
    this.deliver(tables);
  }

  private deliver(tables: readonly string[]) {
    for (const listener of this.listeners) listener(tables);
  }
}

/** Wraps a Kysely dialect so every committed INSERT/UPDATE/DELETE is reported to `changes`. */
export function reportingChanges(dialect: Dialect, changes: TableChanges): Dialect {
  return {
    createDriver: () => new ChangeReportingDriver(dialect.createDriver(), changes),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db: Kysely<any>) => dialect.createIntrospector(db),
  };
}

class ReportingConnection implements DatabaseConnection {
  /** Tables written in the open transaction; null outside one (each statement commits itself). */
  pending: Set<string> | null = null;

  constructor(
    readonly inner: DatabaseConnection,
    private readonly changes: TableChanges,
  ) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.inner.executeQuery<R>(compiledQuery);
    const table = this.changes.reportedTable(compiledQuery);
    if (table) {
      if (this.pending) this.pending.add(table);
      else this.changes.committed([table]);
    }
    return result;
  }

  streamQuery<R>(compiledQuery: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(compiledQuery, chunkSize);
  }
}

class ChangeReportingDriver implements Driver {
  private readonly wrapped = new WeakMap<DatabaseConnection, ReportingConnection>();

  constructor(
    private readonly inner: Driver,
    private readonly changes: TableChanges,
  ) {
    // Savepoints exist only when the wrapped driver has them (Kysely checks for the methods).
    if (inner.savepoint) this.savepoint = (c, name, compile) => inner.savepoint!(unwrap(c), name, compile);
    if (inner.rollbackToSavepoint) this.rollbackToSavepoint = (c, name, compile) => inner.rollbackToSavepoint!(unwrap(c), name, compile);
    if (inner.releaseSavepoint) this.releaseSavepoint = (c, name, compile) => inner.releaseSavepoint!(unwrap(c), name, compile);
  }

  savepoint?: Driver['savepoint'];
  rollbackToSavepoint?: Driver['rollbackToSavepoint'];
  releaseSavepoint?: Driver['releaseSavepoint'];

  init() {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.inner.acquireConnection();
    let wrapper = this.wrapped.get(connection);
    if (!wrapper) {
      wrapper = new ReportingConnection(connection, this.changes);
      this.wrapped.set(connection, wrapper);
    }
    return wrapper;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    await this.inner.beginTransaction(unwrap(connection), settings);
    (connection as ReportingConnection).pending = new Set();
  }

  async commitTransaction(connection: DatabaseConnection) {
    const reporting = connection as ReportingConnection;
    try {
      await this.inner.commitTransaction(unwrap(connection));
    } finally {
      // Even a failed COMMIT may have applied (the connection died after): report to be safe.
      const tables = reporting.pending;
      reporting.pending = null;
      if (tables?.size) this.changes.committed(tables);
    }
  }

  async rollbackTransaction(connection: DatabaseConnection) {
    (connection as ReportingConnection).pending = null;
    await this.inner.rollbackTransaction(unwrap(connection));
  }

  releaseConnection(connection: DatabaseConnection) {
    return this.inner.releaseConnection(unwrap(connection));
  }

  destroy() {
    return this.inner.destroy();
  }
}

function unwrap(connection: DatabaseConnection): DatabaseConnection {
  return connection instanceof ReportingConnection ? connection.inner : connection;
}

type Node = OperationNode & Record<string, unknown>;

/** The table an INSERT, UPDATE, DELETE or MERGE writes; undefined for reads and DDL. */
export function writtenTable(compiled: CompiledQuery): string | undefined {
  const node = compiled.query as Node;
  switch (node.kind) {
    case 'InsertQueryNode':
    case 'MergeQueryNode':
      return tableName(node.into as Node | undefined);
    case 'UpdateQueryNode':
      return tableName(node.table as Node | undefined);
    case 'DeleteQueryNode':
      return tableName(((node.from as Node | undefined)?.froms as Node[] | undefined)?.[0]);
    case 'RawNode': {
      // Raw SQL (sql`…`.execute): read the statement itself.
      const match = /^\s*(?:insert\s+into|update|delete\s+from)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?/i.exec(compiled.sql);
      return match?.[1]?.toLowerCase();
    }
    default:
      return undefined;
  }
}

/** The columns a Kysely UPDATE sets; undefined for anything else (raw SQL counts as writing every column). */
export function updatedColumns(compiled: CompiledQuery): string[] | undefined {
  const node = compiled.query as Node;
  if (node.kind !== 'UpdateQueryNode') return undefined;
  const updates = (node.updates as Node[] | undefined) ?? [];
  const names = updates.map((u) => {
    const column = u.column as Node;
    return column.kind === 'ColumnNode' ? ((column.column as Node).name as string | undefined) : undefined;
  });
  return names.every((n): n is string => typeof n === 'string') ? names : undefined;
}

function tableName(node: Node | undefined): string | undefined {
  if (!node) return undefined;
  if (node.kind === 'AliasNode') return tableName(node.node as Node);
  if (node.kind === 'TableNode') return ((node.table as Node).identifier as { name: string }).name;
  return undefined;
}
