# rnix-pkgs library: the subset of nixpkgs' `lib` that the package set and
# common user expressions need, with nixpkgs' names and semantics.
let
  lib = {
    trivial = import ./trivial.nix { inherit lib; };
    lists = import ./lists.nix { inherit lib; };
    strings = import ./strings.nix { inherit lib; };
    attrsets = import ./attrsets.nix { inherit lib; };
    fixedPoints = import ./fixed-points.nix { inherit lib; };
    customisation = import ./customisation.nix { inherit lib; };
    versions = import ./versions.nix { inherit lib; };
    licenses = import ./licenses.nix { inherit lib; };
    sources = import ./sources.nix { inherit lib; };
    generators = import ./generators.nix { inherit lib; };
    inherit (lib.sources) cleanSource cleanSourceWith cleanSourceFilter sourceByRegex sourceFilesBySuffices
      pathIsDirectory pathIsRegularFile;
    fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    fakeSha256 = "0000000000000000000000000000000000000000000000000000";
    fakeSha512 = "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
    platforms = import ./platforms.nix { inherit lib; };
    asserts = {
      assertMsg = pred: msg: pred || builtins.throw msg;
      assertOneOf = name: val: xs:
        lib.asserts.assertMsg (builtins.elem val xs)
          "${name} must be one of ${builtins.toJSON xs}, but is: ${builtins.toJSON val}";
    };
    inherit (lib.asserts) assertMsg assertOneOf;
    maintainers = { };
    teams = { };
    meta = {
      platformMatch = platform: elem: platform == elem || (platform.system or null) == elem;
      availableOn = platform: pkg: builtins.elem (platform.system or platform) (pkg.meta.platforms or [ platform.system or platform ]);
      getExe = pkg: "${pkg}/bin/${pkg.meta.mainProgram or (pkg.pname or (builtins.parseDrvName pkg.name).name)}";
    };
    inherit (lib.meta) getExe;

    # `lib.version` names the package set.
    inherit (lib.trivial) version release codeName;

    # Re-exports at top level, as nixpkgs does.
    inherit (lib.trivial) id const flip pipe concat or and xor bitAnd bitOr bitXor boolToString
      mergeAttrs defaultTo mapNullable isFunction functionArgs setFunctionArgs mirrorFunctionArgs
      toFunction warn warnIf throwIf throwIfNot info trace traceVal seq deepSeq max min mod
      importJSON importTOML inNixShell isInOldestRelease oldestSupportedRelease
      compare splitByAndCompare lessThan add sub;
    inherit (lib.fixedPoints) fix fix' extends composeExtensions composeManyExtensions
      makeExtensible makeExtensibleWithCustomName;
    inherit (lib.lists) singleton forEach foldr fold foldl foldl' imap0 imap1 concatMap flatten
      remove findSingle findFirst any all count optional optionals toList range partition
      groupBy groupBy' zipListsWith zipLists reverseList listDfs toposort sort naturalSort
      compareLists take drop sublist last init crossLists unique intersectLists subtractLists
      mutuallyExclusive head tail length elem elemAt filter map concatLists genList
      findFirstIndex ifilter0 replicate allUnique;
    inherit (lib.strings) concatStrings concatMapStrings concatImapStrings intersperse
      concatStringsSep concatMapStringsSep concatImapStringsSep concatLines makeSearchPath
      makeSearchPathOutput makeLibraryPath makeBinPath optionalString hasPrefix hasSuffix
      stringToCharacters stringAsChars escape escapeShellArg escapeShellArgs escapeRegex
      escapeNixString escapeNixIdentifier escapeXML replaceChars replaceStrings lowerChars
      upperChars toLower toUpper addContextFrom splitString removePrefix removeSuffix
      versionOlder versionAtLeast getName getVersion nameFromURL enableFeature
      enableFeatureAs withFeature withFeatureAs mesonOption mesonBool mesonEnable
      fixedWidthString fixedWidthNumber toInt toIntBase10 isStorePath isStringLike
      isString isPath readPathsFromFile fileContents sanitizeDerivationName
      stringLength substring match split trim trimWith cmakeBool cmakeFeature
      cmakeOptionType hasInfix escapeURL;
    inherit (lib.attrsets) attrByPath hasAttrByPath setAttrByPath getAttrFromPath
      attrVals attrValues attrNames getAttrs catAttrs filterAttrs filterAttrsRecursive
      foldAttrs foldlAttrs collect nameValuePair mapAttrs mapAttrs' mapAttrsToList
      concatMapAttrs mapAttrsRecursive mapAttrsRecursiveCond genAttrs isDerivation
      toDerivation optionalAttrs zipAttrsWithNames zipAttrsWith zipAttrs recursiveUpdateUntil
      recursiveUpdate matchAttrs overrideExisting showAttrPath getOutput getBin getLib
      getDev getMan chooseDevOutputs recurseIntoAttrs dontRecurseIntoAttrs
      cartesianProductOfSets updateManyAttrsByPath listToAttrs hasAttr getAttr
      intersectAttrs removeAttrs isAttrs unionOfDisjoint attrsToList;
    inherit (lib.customisation) overrideDerivation makeOverridable callPackageWith
      callPackagesWith extendDerivation hydraJob makeScope makeScopeWithSplicing;
    inherit (lib.versions) splitVersion;
    inherit (builtins) isList isInt isFloat isBool typeOf tryEval;
  };
in
lib
