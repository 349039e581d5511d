/**
 * Frameworks and database drivers are optional peer dependencies: load one
 * on demand, and say which package to install when it is missing.
 */
export async function importPeer<T>(
  packageName: string,
  /** Who needs it, e.g. `ts-oidc-auth/express` or `The PostgreSQL broker store`. */
  usedBy: string,
  // A caller may pass `() => import("literal")`, which bundlers can follow.
  load: () => Promise<T> = () => import(packageName) as Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isModuleNotFound(error, packageName)) {
      throw new Error(`${usedBy} needs the "${packageName}" package: npm install ${packageName}`, {
        cause: error,
      });
    }
    throw error;
  }
}

function isModuleNotFound(error: unknown, packageName: string): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  // Only the package itself: a missing dependency *inside* it is another problem.
  return code === "ERR_MODULE_NOT_FOUND" && error.message.includes(`'${packageName}'`);
}
