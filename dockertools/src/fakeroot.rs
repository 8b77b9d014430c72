//! `chown`/`chgrp` for `fakeRootCommands`.
//!
//! The scripts run as uid 0 of a user namespace that maps only the building user, so a real
//! `chown 1000:1000` fails (EINVAL). nixpkgs runs them under fakeroot, which records the
//! ownership and gives it to the files in the layer. Here `chown` and `chgrp` programs put
//! first on `PATH` (`$RNIX_FAKEROOT_BIN`) record `uid gid /absolute/path` lines, and the
//! recorded owners are applied to the captured entries. Other ways of changing ownership
//! (`install -o`, a program calling chown(2)) are not recorded and fail as before.

use crate::layer::Entries;
use anyhow::{Context, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Directory (relative to the image root) holding the programs and the record while the
/// script runs; removed afterwards.
pub const DIR: &str = ".rnix-fakeroot";
/// As seen inside the chroot.
pub const BIN_IN_ROOT: &str = "/.rnix-fakeroot/bin";
const LOG_IN_ROOT: &str = "/.rnix-fakeroot/owners";

/// The program (bash). `$0`'s base name selects chown or chgrp semantics.
const SHIM: &str = r#"
prog=${0##*/}
log=@LOG@
rec= deref= ref= have_spec= spec= endopts= status=0
files=()
for a in "$@"; do
  if [ -z "$endopts" ] && [ "${a#-}" != "$a" ] && [ "$a" != - ]; then
    case "$a" in
      --) endopts=1 ;;
      --recursive) rec=1 ;;
      --no-dereference) deref=0 ;;
      --dereference) deref=1 ;;
      --reference=*) ref=${a#--reference=} ;;
      --from=*) echo "$prog: --from is not supported in fakeRootCommands" >&2; exit 1 ;;
      --verbose|--changes|--silent|--quiet|--preserve-root|--no-preserve-root) ;;
      --*) echo "$prog: unrecognized option '$a'" >&2; exit 1 ;;
      *)
        o=${a#-}
        while [ -n "$o" ]; do
          c=${o:0:1}; o=${o:1}
          case $c in
            R) rec=1 ;;
            h) deref=0 ;;
            P|v|c|f) ;;
            *) echo "$prog: option -$c is not supported in fakeRootCommands" >&2; exit 1 ;;
          esac
        done ;;
    esac
  elif [ -z "$ref" ] && [ -z "$have_spec" ]; then
    have_spec=1; spec=$a
  else
    files+=("$a")
  fi
done
if [ -z "$deref" ]; then
  if [ -n "$rec" ]; then deref=0; else deref=1; fi
fi
# name or number -> number, from the image's /etc/passwd (field 3) or /etc/group (field 3)
lookup() {
  case $1 in ''|*[!0-9]*) ;; *) echo "$1"; return 0 ;; esac
  if [ -r "$2" ]; then
    while IFS=: read -r n _ i g _; do
      if [ "$n" = "$1" ]; then
        if [ -n "$3" ]; then echo "$g"; else echo "$i"; fi
        return 0
      fi
    done < "$2"
  fi
  return 1
}
uid=- gid=-
if [ -n "$ref" ]; then
  set -- $(stat -L -c '%u %g' -- "$ref") || exit 1
  uid=$1 gid=$2
elif [ -z "$have_spec" ]; then
  echo "$prog: missing operand" >&2; exit 1
elif [ "$prog" = chgrp ]; then
  gid=$(lookup "$spec" /etc/group) || { echo "$prog: invalid group: '$spec'" >&2; exit 1; }
else
  case $spec in
    *:*) u=${spec%%:*}; g=${spec#*:} ;;
    *.*) u=${spec%%.*}; g=${spec#*.}; if ! lookup "$u" /etc/passwd >/dev/null; then u=$spec; g=; fi ;;
    *) u=$spec; g= ;;
  esac
  if [ -n "$u" ]; then
    uid=$(lookup "$u" /etc/passwd) || { echo "$prog: invalid user: '$spec'" >&2; exit 1; }
  fi
  if [ -n "$g" ]; then
    gid=$(lookup "$g" /etc/group) || { echo "$prog: invalid group: '$spec'" >&2; exit 1; }
  elif [ -n "$u" ] && [ "${spec%:}" != "$spec" ]; then
    gid=$(lookup "$u" /etc/passwd login) || { echo "$prog: invalid spec: '$spec'" >&2; exit 1; }
  fi
fi
if [ ${#files[@]} -eq 0 ]; then echo "$prog: missing operand after '$spec'" >&2; exit 1; fi
for f in "${files[@]}"; do
  if [ ! -e "$f" ] && [ ! -L "$f" ]; then
    echo "$prog: cannot access '$f': No such file or directory" >&2; status=1; continue
  fi
  if [ "$deref" = 1 ] && [ -z "$rec" ]; then
    abs=$(realpath -- "$f") || { status=1; continue; }
  else
    d=$(realpath -- "$(dirname -- "$f")") || { status=1; continue; }
    b=$(basename -- "$f")
    case $b in /|.|..) abs=$(realpath -- "$f") ;; *) abs=${d%/}/$b ;; esac
  fi
  printf '%s %s %s\n' "$uid" "$gid" "$abs" >> "$log"
  if [ -n "$rec" ] && [ -d "$f" ] && [ ! -L "$f" ]; then
    (cd -- "$f" && find . -mindepth 1) | while IFS= read -r p; do
      printf '%s %s %s\n' "$uid" "$gid" "${abs%/}/${p#./}" >> "$log"
    done
  fi
done
exit $status
"#;

/// Install `chown` and `chgrp` under `root/.rnix-fakeroot/bin`, run by `shell`.
pub fn install(root: &Path, shell: &str) -> Result<()> {
    let bin = root.join(DIR).join("bin");
    fs::create_dir_all(&bin).context("creating the fakeroot directory in the image root")?;
    let text = format!("#!{shell}\n{}", SHIM.replace("@LOG@", LOG_IN_ROOT));
    for name in ["chown", "chgrp"] {
        let p = bin.join(name);
        fs::write(&p, &text)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755))?;
    }
    fs::write(root.join(DIR).join("owners"), "")?;
    Ok(())
}

/// One recorded change: absolute path in the image, new uid and gid (`None`: unchanged).
pub type Owner = (String, Option<u64>, Option<u64>);

/// Read the record and remove the directory.
pub fn collect(root: &Path) -> Result<Vec<Owner>> {
    let dir = root.join(DIR);
    let text = fs::read_to_string(dir.join("owners")).unwrap_or_default();
    fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    let id = |s: &str| -> Result<Option<u64>> {
        if s == "-" {
            Ok(None)
        } else {
            Ok(Some(s.parse().with_context(|| format!("bad id {s:?}"))?))
        }
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.splitn(3, ' ');
        let (Some(u), Some(g), Some(p)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        out.push((p.to_string(), id(u)?, id(g)?));
    }
    Ok(out)
}

/// Give the recorded owners to the captured entries (in order: the last change wins).
pub fn apply(entries: &mut Entries, owners: &[Owner]) {
    for (path, uid, gid) in owners {
        let key = path.trim_start_matches('/');
        if let Some(e) = entries.get_mut(key) {
            if let Some(u) = uid {
                e.uid = *u;
            }
            if let Some(g) = gid {
                e.gid = *g;
            }
        }
    }
}
