# stdenv.mkDerivation, with nixpkgs' interface: `name` or `pname`+`version`,
# `rec { ... }` or `finalAttrs: { ... }`, `passthru`, `meta`, `outputs`,
# `overrideAttrs`. The builder is bash running `setup` + `genericBuild`.
{ lib, stdenv, shell, system }:

let
  # Attributes that are not passed to the builder's environment.
  removedAttrs = [ "meta" "passthru" "pos" "checkInputs" "installCheckInputs" "nativeCheckInputs"
    "nativeInstallCheckInputs" "__contentAddressed" "env" "finalPackage" "overrideAttrs" ];

  toList = x: if x == null then [ ] else if builtins.isList x then x else [ x ];

  mkDerivationSimple = overrideAttrs: attrs:
    let
      name =
        if attrs ? name then attrs.name
        else if attrs ? pname && attrs ? version then "${attrs.pname}-${attrs.version}"
        else if attrs ? pname then attrs.pname
        else throw "stdenv.mkDerivation: either `name` or `pname` and `version` must be set";

      doCheck = attrs.doCheck or false;
      doInstallCheck = attrs.doInstallCheck or false;

      nativeBuildInputs = toList (attrs.nativeBuildInputs or [ ])
        ++ lib.optionals doCheck (toList (attrs.nativeCheckInputs or [ ]))
        ++ lib.optionals doInstallCheck (toList (attrs.nativeInstallCheckInputs or [ ]));
      buildInputs = toList (attrs.buildInputs or [ ])
        ++ lib.optionals doCheck (toList (attrs.checkInputs or [ ]))
        ++ lib.optionals doInstallCheck (toList (attrs.installCheckInputs or [ ]));

      env = attrs.env or { };

      derivationArg =
        builtins.removeAttrs attrs removedAttrs
        // env
        // {
          inherit name stdenv nativeBuildInputs buildInputs doCheck doInstallCheck;
          system = attrs.system or system;
          builder = attrs.realBuilder or shell;
          args = attrs.args or [ "-e" (attrs.builder or ./default-builder.sh) ];
          propagatedBuildInputs = toList (attrs.propagatedBuildInputs or [ ]);
          propagatedNativeBuildInputs = toList (attrs.propagatedNativeBuildInputs or [ ]);
          outputs = attrs.outputs or [ "out" ];
        }
        // lib.optionalAttrs (attrs ? pname) { inherit (attrs) pname; }
        // lib.optionalAttrs (attrs ? version) { version = toString attrs.version; };

      drv = derivation derivationArg;

      meta = {
        name = name;
        platforms = lib.platforms.rnix;
        available = true;
      } // (attrs.meta or { })
      // lib.optionalAttrs (attrs ? pos) { position = attrs.pos; };

      passthru = attrs.passthru or { };
    in
    lib.extendDerivation true
      # pname, version, src, ... are attributes of `drv` already (the
      # derivation's arguments); `passthru` is kept as nixpkgs keeps it.
      (passthru // {
        inherit meta overrideAttrs;
      } // lib.optionalAttrs (attrs ? passthru) { inherit (attrs) passthru; })
      drv;

  # `rattrs` is `finalAttrs: attrs`; overrideAttrs composes as in nixpkgs.
  makeDerivationExtensible = rattrs:
    let
      args = rattrs (args // { inherit finalPackage overrideAttrs; });
      overrideAttrs = f0:
        let
          f = self: super:
            let x = f0 super;
            in if builtins.isFunction x then f0 self super else x;
        in
        makeDerivationExtensible (self: let super = rattrs self; in super // f self super);
      finalPackage = mkDerivationSimple overrideAttrs args;
    in
    finalPackage;
in
fpargs:
makeDerivationExtensible (if builtins.isFunction fpargs then fpargs else _: fpargs)
