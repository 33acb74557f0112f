/**
 * A throwaway PostgreSQL server for tests: initdb + pg_ctl on a free port under a temp dir (trust auth, socket
 * in the dir). As root it runs as the `postgres` user (PostgreSQL refuses to run as root). If PostgreSQL cannot
 * be started this throws with the reason: the tests fail, they are never skipped. scripts/ci/ensure-postgres.sh
 * installs Debian's postgresql where it is missing.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPostgres {
  url: string;
  stop: () => void;
}

function binDir(): string {
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim());
  } catch {
    // pg_config is in libpq-dev, often absent
  }
  if (existsSync('/usr/lib/postgresql')) {
    for (const v of readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)))
      candidates.push(`/usr/lib/postgresql/${v}/bin`);
  }
  for (const d of candidates) if (existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl'))) return d;
  for (const d of (process.env['PATH'] ?? '').split(':'))
    if (d && existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl'))) return d;
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/ci/ensure-postgres.sh (apt-get install -y postgresql)',
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'infersim-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  let run = (cmd: string, args: string[]) =>
    execFileSync(join(bin, cmd), args, { stdio: 'pipe', encoding: 'utf8', timeout: 60_000 });
  if (asRoot) {
    let uid: number, gid: number;
    try {
      uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    } catch {
      throw new Error('running as root and there is no `postgres` user to run PostgreSQL as');
    }
    chmodSync(dir, 0o700);
    chownSync(dir, uid, gid);
    run = (cmd, args) =>
      execFileSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], {
        stdio: 'pipe',
        encoding: 'utf8',
        timeout: 60_000,
      });
  }
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`,
      'start',
    ]);
  } catch (e) {
    let log = '';
    try {
      log = readFileSync(join(dir, 'log'), 'utf8').slice(-2000);
    } catch {
      // no log yet
    }
    rmSync(dir, { recursive: true, force: true });
    const err = e as { stderr?: string; message: string };
    throw new Error(`could not start PostgreSQL: ${err.stderr || err.message}\n${log}`);
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
