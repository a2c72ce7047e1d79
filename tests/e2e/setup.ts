import { execFileSync } from 'node:child_process';

/** Builds the static site once before the end-to-end tests (they test what gets deployed). */
export default function setup(): void {
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
}
