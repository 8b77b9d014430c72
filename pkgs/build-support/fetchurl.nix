# fetchurl as a `builtin:fetchurl` fixed-output derivation (like Nix's
# <nix/fetchurl.nix>), with nixpkgs' arguments: `url` or `urls`, `hash` (SRI)
# or `sha256`/`sha512`/`sha1`, `name`, `executable`, `recursiveHash`/`unpack`.
# `mirror://debian/...`, `mirror://debian-security/...` and `mirror://pypi/...`
# URLs are resolved by rnix from the user's configuration.
{ lib }:

{ url ? null
, urls ? [ ]
, name ? null
, pname ? null
, version ? null
, hash ? ""
, sha256 ? ""
, sha512 ? ""
, sha1 ? ""
, md5 ? ""
, outputHash ? ""
, outputHashAlgo ? ""
, executable ? false
, recursiveHash ? false
, unpack ? false
, passthru ? { }
, meta ? { }
, ...
}@args:

let
  urls' =
    if url != null && urls == [ ] then [ url ]
    else if url == null && urls != [ ] then urls
    else throw "fetchurl requires either `url` or `urls` to be set";
  mainUrl = builtins.head urls';

  hashes =
    if outputHash != "" then { h = outputHash; algo = outputHashAlgo; }
    else if hash != "" then { h = hash; algo = ""; }
    else if sha512 != "" then { h = sha512; algo = "sha512"; }
    else if sha256 != "" then { h = sha256; algo = "sha256"; }
    else if sha1 != "" then { h = sha1; algo = "sha1"; }
    else if md5 != "" then throw "fetchurl: md5 hashes are not supported, use sha256 (url: ${mainUrl})"
    else throw "fetchurl: no hash given for ${mainUrl}; set `hash` or `sha256`";

  # Store names allow [A-Za-z0-9+-._?=]; a URL's file name may not fit.
  baseName =
    if name != null then name
    else if pname != null && version != null then "${pname}-${version}"
    else lib.sanitizeDerivationName (baseNameOf (toString mainUrl));

  drv = derivation ({
    builder = "builtin:fetchurl";
    system = "builtin";
    name = baseName;
    url = mainUrl;
    urls = urls';
    outputHash = hashes.h;
    outputHashAlgo = hashes.algo;
    outputHashMode = if recursiveHash || unpack || executable then "recursive" else "flat";
    inherit executable unpack;
    preferLocalBuild = true;
    impureEnvVars = [ "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy" ];
  });
in
drv // passthru // { inherit meta; }
// lib.optionalAttrs (pname != null) { inherit pname; }
// lib.optionalAttrs (version != null) { inherit version; }
