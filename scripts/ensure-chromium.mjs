// `npm test` needs a Chromium for the dashboard's browser test. Where none is found (CHROMIUM_PATH,
// else /usr/bin/chromium), Debian's package is installed when this runs as root with apt-get;
// otherwise it says what to do and fails, so a missing browser is never a silent skip.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const browser = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(browser)) {
  const canInstall = process.env.CHROMIUM_PATH === undefined && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canInstall) {
    console.error(`No Chromium at ${browser}: run \`sudo apt-get install -y chromium\` (Debian) or set CHROMIUM_PATH; the dashboard test needs it.`);
    process.exit(1);
  }
  console.log(`No Chromium at ${browser}: installing Debian's chromium for the dashboard test`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium', 'fonts-dejavu-core'], { stdio: 'inherit', env });
}
