# dockerTools with nixpkgs' interface, built by rnix's builtin
# `rnix-docker-image` (no virtual machine: runAsRoot runs in a namespace).
{ lib, system, stdenv, bash, coreutils, cacert, runCommand, writeTextDir, symlinkJoin, buildEnv, shadow }:

let
  inherit (builtins) toJSON isString isList isAttrs;

  shell = "${bash}/bin/bash";

  # As nixpkgs' `shellScript`: runAsRoot runs with coreutils on PATH (and /bin of the image).
  rootScript = text:
    if text == null || text == "" then ""
    else ''
      set -e
      export PATH=${coreutils}/bin:/bin
      ${text}
    '';

  # extraCommands / fakeRootCommands run in the build environment: the stdenv's tools on PATH.
  buildScript = text:
    if text == null || text == "" then ""
    else ''
      set -e
      export PATH=${lib.makeBinPath stdenv.initialPath}''${PATH:+:}$PATH
      ${text}
    '';

  # fakeRootCommands: as extraCommands, with the builder's recording chown/chgrp first on
  # PATH (rnix has no fakeroot; see dockertools/src/fakeroot.rs).
  fakeRootScript = text:
    if text == null || text == "" then ""
    else ''
      set -e
      export PATH=''${RNIX_FAKEROOT_BIN:+$RNIX_FAKEROOT_BIN:}${lib.makeBinPath stdenv.initialPath}''${PATH:+:}$PATH
      ${text}
    '';

  # A list of store paths (derivations or strings) as a space-separated env value.
  pathList = x: if x == null then [ ] else lib.toList x;

  imageFileName = baseName: compressor:
    if compressor == "none" then "${baseName}.tar"
    else if compressor == "gz" then "${baseName}.tar.gz"
    else if compressor == "zstd" then "${baseName}.tar.zst"
    else throw "dockerTools: unknown compressor `${compressor}' (expected \"gz\", \"zstd\" or \"none\")";

  checkFormat = format:
    if format == "docker" || format == "oci" then format
    else throw "dockerTools: unknown format `${format}' (expected \"docker\" or \"oci\")";

  # `created` as given (nixpkgs default 1970-01-01T00:00:01Z; "now" is resolved at build time).
  checkCreated = created:
    if isString created then created
    else throw "dockerTools: `created' must be a string such as \"1970-01-01T00:00:01Z\" or \"now\"";

  # The image tag nixpkgs derives from the output path when `tag` is null.
  tagOf = tag: drv:
    if tag != null then tag
    else builtins.unsafeDiscardStringContext (builtins.head (lib.splitString "-" (baseNameOf drv.outPath)));

  fromImageString = fromImage: if fromImage == null then "" else "${fromImage}";

  mkImage =
    { name
    , drvName
    , tag
    , fromImage ? null
    , fromImageName ? null
    , fromImageTag ? null
    , copyToRoot ? [ ]
    , keepContentsDirlinks ? false
    , runAsRoot ? null
    , extraCommands ? ""
    , fakeRootCommands ? ""
    , enableFakechroot ? false
    , config ? null
    , created ? "1970-01-01T00:00:01Z"
    , architecture ? "amd64"
    , compressor ? "gz"
    , includeStorePaths ? true
    , layered ? false
    , maxLayers ? 100
    , format ? "docker"
    , stream ? false
    , uid ? 0
    , gid ? 0
    , uname ? "root"
    , gname ? "root"
    , passthru ? { }
    , meta ? { }
    }:
    let
      imageName = lib.toLower name;
      drv = derivation {
        name = drvName;
        inherit system imageName shell architecture compressor;
        builder = "builtin:rnix-docker-image";
        # Empty: the builder derives the tag from the output path, as nixpkgs does.
        imageTag = if tag == null then "" else tag;
        copyToRoot = pathList copyToRoot;
        keepContentsDirlinks = if keepContentsDirlinks then "1" else "";
        runAsRoot = rootScript runAsRoot;
        extraCommands = buildScript extraCommands;
        fakeRootCommands = fakeRootScript fakeRootCommands;
        enableFakechroot = if enableFakechroot then "1" else "";
        config = if config == null then "" else toJSON config;
        created = checkCreated created;
        fromImage = fromImageString fromImage;
        fromImageName = if fromImageName == null then "" else fromImageName;
        fromImageTag = if fromImageTag == null then "" else fromImageTag;
        includeStorePaths = if includeStorePaths then "1" else "";
        layered = if layered then "1" else "0";
        maxLayers = toString maxLayers;
        format = checkFormat format;
        stream = if stream then "1" else "";
        uid = toString uid;
        gid = toString gid;
        inherit uname gname;
      };
    in
    assert lib.assertMsg (!layered || maxLayers > 1) "dockerTools: the maximum number of layers must be at least 2";
    drv // passthru // {
      inherit meta imageName;
      imageTag = tagOf tag drv;
      isExe = stream;
    };

  # `contents` (older name) and `copyToRoot` are the same.
  rootOf = args: args.copyToRoot or args.contents or [ ];

  # nixpkgs: the base name of a name like "docker.io/library/foo".
  baseNameOfImage = name: baseNameOf name;
in
rec {
  buildImage =
    args@{ name
    , tag ? null
    , fromImage ? null
    , fromImageName ? null
    , fromImageTag ? null
    , copyToRoot ? null
    , contents ? null
    , keepContentsDirlinks ? false
    , runAsRoot ? null
    , extraCommands ? ""
    , config ? null
    , architecture ? "amd64"
    , created ? "1970-01-01T00:00:01Z"
    , diskSize ? 1024
    , buildVMMemorySize ? 512
    , compressor ? "gz"
    , includeStorePaths ? true
    , format ? "docker"
    , meta ? { }
    , passthru ? { }
    , ...
    }:
    mkImage {
      inherit name tag fromImage fromImageName fromImageTag keepContentsDirlinks runAsRoot
        extraCommands config architecture created compressor includeStorePaths format meta passthru;
      copyToRoot = if copyToRoot != null then copyToRoot else if contents != null then contents else [ ];
      drvName = "docker-image-" + imageFileName (baseNameOfImage name) compressor;
    };

  buildLayeredImage =
    args@{ name
    , tag ? null
    , contents ? [ ]
    , copyToRoot ? null
    , config ? { }
    , architecture ? "amd64"
    , created ? "1970-01-01T00:00:01Z"
    , maxLayers ? 100
    , extraCommands ? ""
    , fakeRootCommands ? ""
    , enableFakechroot ? false
    , fromImage ? null
    , includeStorePaths ? true
    , compressor ? "gz"
    , format ? "docker"
    , uid ? 0
    , gid ? 0
    , uname ? "root"
    , gname ? "root"
    , meta ? { }
    , passthru ? { }
    , ...
    }:
    mkImage {
      inherit name tag config architecture created maxLayers extraCommands fakeRootCommands
        enableFakechroot fromImage includeStorePaths compressor format uid gid uname gname meta passthru;
      copyToRoot = if copyToRoot != null then copyToRoot else contents;
      layered = true;
      drvName = imageFileName (baseNameOfImage name) compressor;
    };

  # An executable that writes the (uncompressed) image to standard output.
  streamLayeredImage =
    args@{ name
    , tag ? null
    , contents ? [ ]
    , copyToRoot ? null
    , config ? { }
    , architecture ? "amd64"
    , created ? "1970-01-01T00:00:01Z"
    , maxLayers ? 100
    , extraCommands ? ""
    , fakeRootCommands ? ""
    , enableFakechroot ? false
    , fromImage ? null
    , includeStorePaths ? true
    , uid ? 0
    , gid ? 0
    , uname ? "root"
    , gname ? "root"
    , meta ? { }
    , passthru ? { }
    , ...
    }:
    mkImage {
      inherit name tag config architecture created maxLayers extraCommands fakeRootCommands
        enableFakechroot fromImage includeStorePaths uid gid uname gname meta passthru;
      copyToRoot = if copyToRoot != null then copyToRoot else contents;
      layered = true;
      stream = true;
      compressor = "none";
      drvName = "stream-${baseNameOfImage name}";
    };

  # `/bin/sh` for images.
  binSh = runCommand "bin-sh" { } ''
    mkdir -p $out/bin
    ln -s ${bash}/bin/bash $out/bin/sh
  '';

  # `/usr/bin/env` for images (scripts with `#!/usr/bin/env`).
  usrBinEnv = runCommand "usr-bin-env" { } ''
    mkdir -p $out/usr/bin
    ln -s ${coreutils}/bin/env $out/usr/bin/env
  '';

  # CA certificates at the usual places.
  caCertificates = runCommand "ca-certificates" { } ''
    mkdir -p $out/etc/ssl/certs $out/etc/pki/tls/certs
    ln -s ${cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/ssl/certs/ca-bundle.crt
    ln -s ${cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/ssl/certs/ca-certificates.crt
    ln -s ${cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/pki/tls/certs/ca-bundle.crt
  '';

  # Minimal /etc/passwd, /etc/group and nsswitch.conf (root and nobody).
  fakeNss = symlinkJoin {
    name = "fake-nss";
    paths = [
      (writeTextDir "etc/passwd" ''
        root:x:0:0:root user:/var/empty:/bin/sh
        nobody:x:65534:65534:nobody:/var/empty:/bin/sh
      '')
      (writeTextDir "etc/group" ''
        root:x:0:
        nobody:x:65534:
      '')
      (writeTextDir "etc/nsswitch.conf" ''
        hosts: files dns
      '')
      (runCommand "var-empty" { } ''
        mkdir -p $out/var/empty
      '')
    ];
  };

  # nixpkgs' helpers used in runAsRoot scripts: shadow's useradd/groupadd on PATH and the
  # files they need.
  shadowSetup = ''
    export PATH=${shadow}/bin:${coreutils}/bin:$PATH
    mkdir -p /etc/pam.d
    if [[ ! -f /etc/passwd ]]; then
      echo "root:x:0:0::/root:${shell}" > /etc/passwd
      echo "root:!x:::::::" > /etc/shadow
    fi
    if [[ ! -f /etc/group ]]; then
      echo "root:x:0:" > /etc/group
      echo "root:x::" > /etc/gshadow
    fi
    if [[ ! -f /etc/pam.d/other ]]; then
      cat > /etc/pam.d/other <<EOF
    account sufficient pam_unix.so
    auth sufficient pam_rootok.so
    password requisite pam_unix.so nullok yescrypt
    session required pam_unix.so
    EOF
    fi
    if [[ ! -f /etc/login.defs ]]; then
      touch /etc/login.defs
    fi
  '';

  pullImage = args: throw "dockerTools.pullImage is not supported by rnix-pkgs (no registry access at build time); use `fromImage' with a docker-archive tarball";
  # The image's root filesystem (layers applied, whiteouts honoured) as an uncompressed
  # tar, as nixpkgs' exportImage (no VM: `diskSize`/`buildVMMemorySize` are accepted and
  # have no effect). Built by `builtin:rnix-docker-export`.
  exportImage =
    { fromImage
    , fromImageName ? null
    , fromImageTag ? null
    , name ? fromImage.name
    , diskSize ? 1024
    , buildVMMemorySize ? 512
    }:
    derivation {
      inherit name system;
      builder = "builtin:rnix-docker-export";
      fromImage = "${fromImage}";
      fromImageName = if fromImageName == null then "" else fromImageName;
      fromImageTag = if fromImageTag == null then "" else fromImageTag;
    };

  # One docker archive (gzip'd) holding every image of the list (manifests concatenated,
  # repositories merged), so that `docker load` loads them all, as nixpkgs' mergeImages.
  # Built by `builtin:rnix-docker-merge`.
  mergeImages = images:
    assert lib.assertMsg (isList images) "dockerTools.mergeImages: expects a list of images";
    derivation {
      name = "merge-docker-images";
      inherit system;
      builder = "builtin:rnix-docker-merge";
      images = map (i: "${i}") images;
    };
}
