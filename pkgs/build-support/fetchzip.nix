# fetchzip / fetchFromGitHub / fetchFromGitLab with nixpkgs' hashes (NAR hash of
# the unpacked tree, top directory stripped): a fixed-output stdenv build that
# downloads with the package set's curl and unpacks with tar (or python3's
# zipfile for .zip archives).
{ lib, stdenvNoCC, curl, cacert, python3 }:

rec {
  fetchzip =
    { url ? null
    , urls ? [ ]
    , name ? "source"
    , hash ? ""
    , sha256 ? ""
    , stripRoot ? true
    , extension ? null
    , postFetch ? ""
    , passthru ? { }
    , meta ? { }
    , ...
    }:
    let
      urls' = if url != null then [ url ] else urls;
      mainUrl = if urls' == [ ] then throw "fetchzip requires `url` or `urls`" else builtins.head urls';
      ext = if extension != null then extension else lib.last (lib.splitString "." (baseNameOf mainUrl));
      isZip = ext == "zip" || ext == "ZIP";
      outputHash =
        if hash != "" then hash
        else if sha256 != "" then sha256
        else throw "fetchzip: no hash given for ${mainUrl}; set `hash`";
    in
    stdenvNoCC.mkDerivation {
      inherit name outputHash passthru meta postFetch stripRoot;
      outputHashAlgo = if hash != "" then "" else "sha256";
      outputHashMode = "recursive";
      urls = urls';
      isZip = isZip;
      nativeBuildInputs = [ curl ] ++ lib.optional isZip python3;
      SSL_CERT_FILE = "${cacert}/etc/ssl/certs/ca-bundle.crt";
      impureEnvVars = [ "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy" ];
      preferLocalBuild = true;
      buildCommand = ''
        downloaded=""
        for u in $urls; do
          if curl --location --fail --silent --show-error --retry 3 -o "$TMPDIR/archive" "$u"; then
            downloaded=1
            break
          fi
          echo "fetchzip: download of $u failed" >&2
        done
        if [ -z "$downloaded" ]; then
          echo "fetchzip: could not download any of: $urls" >&2
          exit 1
        fi
        mkdir "$TMPDIR/unpack"
        if [ -n "$isZip" ]; then
          # python's zipfile, keeping the permission bits (as unzip does)
          python3 -c 'import os, sys, zipfile
        z = zipfile.ZipFile(sys.argv[1])
        for i in z.infolist():
            p = z.extract(i, sys.argv[2])
            mode = (i.external_attr >> 16) & 0o777
            if mode and not i.is_dir():
                os.chmod(p, mode)' "$TMPDIR/archive" "$TMPDIR/unpack"
        else
          tar xf "$TMPDIR/archive" -C "$TMPDIR/unpack" --warning=no-timestamp
        fi
        if [ -n "$stripRoot" ]; then
          entries=("$TMPDIR"/unpack/*)
          if [ "''${#entries[@]}" -ne 1 ] || [ ! -d "''${entries[0]}" ]; then
            echo "fetchzip: the archive does not contain exactly one top-level directory (set stripRoot = false)" >&2
            exit 1
          fi
          mv "''${entries[0]}" "$out"
        else
          mv "$TMPDIR/unpack" "$out"
        fi
        chmod -R a-w "$out"
        chmod u+w "$out"
        eval "$postFetch"
        chmod -R a-w "$out"
      '';
    };

  fetchFromGitHub =
    { owner, repo, rev ? null, tag ? null, name ? "source", hash ? "", sha256 ? "", githubBase ? "github.com", ... }@args:
    let
      ref = if tag != null then "refs/tags/${tag}" else if rev != null then rev else throw "fetchFromGitHub requires `rev` or `tag`";
    in
    fetchzip {
      inherit name hash sha256;
      url = "https://${githubBase}/${owner}/${repo}/archive/${ref}.tar.gz";
      passthru = { inherit owner repo; rev = if rev != null then rev else tag; };
    };

  fetchFromGitLab =
    { owner, repo, rev ? null, tag ? null, name ? "source", hash ? "", sha256 ? "", domain ? "gitlab.com", ... }:
    let ref = if tag != null then tag else rev;
    in fetchzip {
      inherit name hash sha256;
      url = "https://${domain}/api/v4/projects/${lib.escapeURL "${owner}/${repo}"}/repository/archive.tar.gz?sha=${ref}";
    };
}
