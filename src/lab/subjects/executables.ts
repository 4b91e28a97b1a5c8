/**
 * Where the lab finds the external programs its peer subjects run. Absolute defaults (the
 * system's own python3 and curl, not whatever a virtualenv or pyenv shim puts first on PATH),
 * overridable per program through the environment, so a user with Python elsewhere (or without
 * it) can say so. Read at each use, so that the variables also work when the lab is a library.
 */

/** Python 3 for python-requests, http.server and Django: `HOLDFAST_LAB_PYTHON`, default /usr/bin/python3. */
export function pythonPath(): string {
  return fromEnv('HOLDFAST_LAB_PYTHON', '/usr/bin/python3');
}

/** The curl command: `HOLDFAST_LAB_CURL`, default /usr/bin/curl. */
export function curlPath(): string {
  return fromEnv('HOLDFAST_LAB_CURL', '/usr/bin/curl');
}

/** Apache httpd: `HOLDFAST_LAB_APACHE`, default /usr/sbin/apache2. */
export function apachePath(): string {
  return fromEnv('HOLDFAST_LAB_APACHE', '/usr/sbin/apache2');
}

function fromEnv(name: string, fallback: string): string {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
}
