# Sourced by the deploy scripts and .ci/run: `apt_need WHAT:PACKAGE ...` installs with apt-get the
# packages whose WHAT is missing: a command on PATH or in /usr/sbin, or a path (a glob) that must
# exist. Quick and silent when everything is there; `apt-get update` once, only if an install fails.
apt_need() {
  local missing=() pair what
  for pair in "$@"; do
    what=${pair%%:*}
    if [[ $what == /* ]]; then
      # shellcheck disable=SC2086
      compgen -G "$what" >/dev/null && continue
    else
      command -v "$what" >/dev/null 2>&1 || [ -x "/usr/sbin/$what" ] && continue
    fi
    missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing with apt-get: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >&2 || { apt-get update -q >&2 && apt-get install -y -q "${missing[@]}" >&2; }
}
