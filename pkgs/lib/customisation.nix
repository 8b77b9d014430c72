{ lib }:
let
  inherit (builtins) intersectAttrs functionArgs isFunction isAttrs attrNames filter;
in
rec {
  overrideDerivation = drv: f:
    let newDrv = derivation (drv.drvAttrs // (f drv));
    in lib.flip (extendDerivation (builtins.seq drv.drvPath true)) newDrv (
      { meta = drv.meta or { }; passthru = if drv ? passthru then drv.passthru else { }; }
      // (drv.passthru or { })
    );

  # Adds `override` (re-call with changed arguments) and wraps `overrideAttrs` /
  # `overrideDerivation` so that the result stays overridable.
  makeOverridable = f:
    let
      mirror = lib.mirrorFunctionArgs f;
      overridable = origArgs:
        let
          result = f origArgs;
          overrideWith = newArgs: origArgs // (if lib.isFunction newArgs then newArgs origArgs else newArgs);
          overrideResult = g: makeOverridable (mirror (args: g (f args))) origArgs;
        in
        if isAttrs result then
          result // {
            override = newArgs: overridable (overrideWith newArgs);
            overrideDerivation = fdrv: overrideResult (x: overrideDerivation x fdrv);
          } // lib.optionalAttrs (result ? overrideAttrs) {
            overrideAttrs = fdrv: overrideResult (x: x.overrideAttrs fdrv);
          }
        else if lib.isFunction result then
          lib.setFunctionArgs result (lib.functionArgs result) // { override = newArgs: overridable (overrideWith newArgs); }
        else result;
    in
    mirror overridable;

  # callPackageWith autoArgs fn args: fills the arguments of `fn` that `args`
  # leaves out from `autoArgs`, and makes the result overridable.
  callPackageWith = autoArgs: fn: args:
    let
      f = if isFunction fn then fn else import fn;
      fargs = lib.functionArgs f;
      allArgs = intersectAttrs fargs autoArgs // args;
      missingArgs = filter (name: !(fargs.${name}) && !(allArgs ? ${name})) (attrNames fargs);
      error = "Function called without required argument \"${builtins.head missingArgs}\""
        + lib.optionalString (!isFunction fn) " at ${toString fn}";
    in
    if missingArgs == [ ] then makeOverridable f allArgs else throw error;

  callPackagesWith = autoArgs: fn: args:
    let
      f = if isFunction fn then fn else import fn;
      auto = intersectAttrs (lib.functionArgs f) autoArgs;
      origArgs = auto // args;
      pkgs = f origArgs;
      mkAttrOverridable = name: _: makeOverridable (newArgs: (f newArgs).${name}) origArgs;
    in
    if lib.isDerivation pkgs then throw "function `callPackages` was called on a *single* derivation" else builtins.mapAttrs mkAttrOverridable pkgs;

  extendDerivation = condition: passthru: drv:
    let
      outputs = drv.outputs or [ "out" ];
      commonAttrs = drv // (builtins.listToAttrs outputsList) // { all = map (x: x.value) outputsList; } // passthru;
      outputToAttrListElement = outputName: {
        name = outputName;
        value = commonAttrs // {
          inherit (drv.${outputName}) type outputName;
          outputSpecified = true;
          drvPath = assert condition; drv.${outputName}.drvPath;
          outPath = assert condition; drv.${outputName}.outPath;
        };
      };
      outputsList = map outputToAttrListElement outputs;
    in
    commonAttrs // {
      drvPath = assert condition; drv.drvPath;
      outPath = assert condition; drv.outPath;
    };

  hydraJob = drv: drv;

  makeScope = newScope: f:
    let
      self = f self // {
        newScope = scope: newScope (self // scope);
        callPackage = self.newScope { };
        overrideScope = g: makeScope newScope (lib.fixedPoints.extends g f);
        overrideScope' = self.overrideScope;
        packages = f;
      };
    in
    self;
  makeScopeWithSplicing = _: throw "lib.makeScopeWithSplicing is not supported by rnix-pkgs";
}
