/**
 * Environment expansion of the config text, as LiteFS does it: `$VAR`, `${VAR}`, `${VAR:-default}`,
 * and the comparisons `${A == B}` / `${A != B}` whose sides are variable names or quoted literals
 * (`${FLY_REGION == PRIMARY_REGION}`, `${FLY_REGION == "ams"}`); these yield `true` or `false`.
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(/\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, braced: string | undefined, bare: string | undefined) => {
    if (bare !== undefined) return env[bare] ?? '';
    const expr = braced!.trim();
    const cmp = /^([^=!]+?)\s*(==|!=)\s*(.+)$/.exec(expr);
    if (cmp) {
      const left = operand(cmp[1]!.trim(), env);
      const right = operand(cmp[3]!.trim(), env);
      return String(cmp[2] === '==' ? left === right : left !== right);
    }
    const dflt = /^([A-Za-z_][A-Za-z0-9_]*):-(.*)$/.exec(expr);
    if (dflt) {
      const v = env[dflt[1]!];
      return v === undefined || v === '' ? dflt[2]! : v;
    }
    return env[expr] ?? '';
  });
}

function operand(s: string, env: NodeJS.ProcessEnv): string {
  const quoted = /^'(.*)'$|^"(.*)"$/.exec(s);
  if (quoted) return quoted[1] ?? quoted[2] ?? '';
  return env[s] ?? '';
}
