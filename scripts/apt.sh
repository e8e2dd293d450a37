# apt.sh is sourced by setup.sh and bench.sh, which define say and die.

# apt_install HINT PKG...: installs with apt-get those of the Debian packages PKG that are missing
# (running apt-get update only then); HINT ends the error when there is no apt-get.
apt_install() {
  local hint=$1 p sudo=""
  local need=()
  shift
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  [ ${#need[@]} -gt 0 ] || return 0
  command -v apt-get >/dev/null || die "missing packages ${need[*]} and no apt-get: $hint"
  [ "$(id -u)" = 0 ] || sudo="sudo"
  say "installing ${need[*]} (apt-get)"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}
