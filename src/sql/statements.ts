/**
 * Splits an SQL script into statements the way SQLite reads it: on `;` outside string literals,
 * quoted identifiers and comments, with a CREATE TRIGGER's BEGIN … END body kept whole. A last
 * statement without its `;` is included.
 */
export function splitStatements(sql: string): string[] {
  const { statements, rest } = scanStatements(sql);
  return rest ? [...statements, rest] : statements;
}

/** True when the text ends with a complete statement (what a shell waits for before running it). */
export function isComplete(sql: string): boolean {
  const { statements, rest } = scanStatements(sql);
  return statements.length > 0 && rest === '';
}

function scanStatements(sql: string): { statements: string[]; rest: string } {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  let triggerDepth = 0;
  let inTrigger = false;
  const n = sql.length;
  const word = (at: number): string => {
    const m = /^[A-Za-z_]+/.exec(sql.slice(at, at + 16));
    return m ? m[0].toUpperCase() : '';
  };
  const statementStart = () => sql.slice(start, i).replace(/^(\s|--[^\n]*\n?|\/\*[\s\S]*?\*\/)*/, '');
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      i++;
      while (i < n) {
        if (sql[i] === close) {
          if (close !== ']' && sql[i + 1] === close) {
            i += 2;
            continue;
          }
          break;
        }
        i++;
      }
      i++;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (/[A-Za-z_]/.test(c) && (i === 0 || !/[A-Za-z0-9_$]/.test(sql[i - 1]!))) {
      const w = word(i);
      if (!inTrigger && /^CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i.test(statementStart() + sql.slice(i, i + 40)) && w === 'TRIGGER') inTrigger = true;
      if (inTrigger && w === 'BEGIN') triggerDepth++;
      else if (inTrigger && w === 'CASE') triggerDepth++;
      else if (inTrigger && w === 'END' && triggerDepth > 0) triggerDepth--;
      i += Math.max(1, w.length);
      continue;
    }
    if (c === ';' && triggerDepth === 0) {
      const s = sql.slice(start, i).trim();
      if (s && !isOnlyComments(s)) out.push(s);
      start = i + 1;
      inTrigger = false;
    }
    i++;
  }
  const tail = sql.slice(start).trim();
  return { statements: out, rest: tail && !isOnlyComments(tail) ? tail : '' };
}

function isOnlyComments(s: string): boolean {
  return s.replace(/--[^\n]*(\n|$)/g, '').replace(/\/\*[\s\S]*?\*\//g, '').trim() === '';
}

/** A statement that opens or ends a transaction (a dump's `BEGIN TRANSACTION; … COMMIT;`). */
export function transactionControl(stmt: string): 'begin' | 'commit' | 'rollback' | undefined {
  const s = stmt.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*/, '').toUpperCase();
  if (/^BEGIN\b/.test(s)) return 'begin';
  if (/^(COMMIT|END)\b/.test(s)) return 'commit';
  if (/^ROLLBACK\b/.test(s) && !/^ROLLBACK\s+(TRANSACTION\s+)?TO\b/.test(s)) return 'rollback';
  return undefined;
}

/** True for a statement that only reads (SELECT, VALUES, EXPLAIN, WITH … SELECT, read-only PRAGMAs). */
export function isReadOnly(stmt: string): boolean {
  const s = stmt.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*/, '').toUpperCase();
  if (/^(SELECT|VALUES|EXPLAIN)\b/.test(s)) return true;
  if (/^WITH\b/.test(s)) return !/\b(INSERT|UPDATE|DELETE|REPLACE)\b/.test(s);
  // `PRAGMA x = y` changes something; `PRAGMA x` and `PRAGMA x(arg)` (table_info, index_list…) read.
  if (/^PRAGMA\b/.test(s)) return !s.includes('=');
  return false;
}

/**
 * What in a statement reaches past the database it runs on ('ATTACH', 'DETACH', 'VACUUM INTO'),
 * or undefined. These can only open the statement (triggers cannot hold them), so its first words
 * tell.
 */
export function reachesOutside(stmt: string): string | undefined {
  const s = stmt.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*/, '').toUpperCase();
  const first = /^(ATTACH|DETACH)\b/.exec(s);
  if (first) return first[1];
  if (/^VACUUM\b/.test(s) && /\bINTO\b/.test(s)) return 'VACUUM INTO';
  return undefined;
}
