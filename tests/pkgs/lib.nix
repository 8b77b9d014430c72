# Assertions on rnix-pkgs' lib; evaluates to true or throws naming the failed check.
# Run: nix-instantiate --eval --strict tests/pkgs/lib.nix
let
  lib = import ../../pkgs/lib;
  checks = with lib; {
    fix = fix (self: { a = 1; b = self.a + 1; }) == { a = 1; b = 2; };
    extends = fix (extends (final: prev: { b = prev.b * 10; c = final.b; }) (self: { a = 1; b = self.a + 1; })) == { a = 1; b = 20; c = 20; };
    composeExtensions = fix (extends (composeExtensions (f: p: { x = p.x + 1; }) (f: p: { x = p.x * 2; })) (self: { x = 1; })) == { x = 4; };
    optional = optional true 1 == [ 1 ] && optional false 1 == [ ];
    optionals = optionals true [ 1 2 ] == [ 1 2 ] && optionals false [ 1 ] == [ ];
    optionalString = optionalString true "a" == "a" && optionalString false "a" == "";
    optionalAttrs = optionalAttrs true { a = 1; } == { a = 1; } && optionalAttrs false { a = 1; } == { };
    concatMapStrings = concatMapStrings (x: x + "!") [ "a" "b" ] == "a!b!";
    concatStringsSep = concatStringsSep ", " [ "a" "b" ] == "a, b";
    concatMapStringsSep = concatMapStringsSep "-" toUpper [ "a" "b" ] == "A-B";
    makeBinPath = makeBinPath [ "/a" "/b" ] == "/a/bin:/b/bin";
    makeLibraryPath = makeLibraryPath [ "/a" { out = "/o"; lib = "/l"; } ] == "/a/lib:/l/lib";
    makeBinPathOutputs = makeBinPath [ { out = "/o"; bin = "/b"; } ] == "/b/bin";
    mapAttrs' = mapAttrs' (n: v: nameValuePair "x${n}" (v + 1)) { a = 1; } == { xa = 2; };
    filterAttrs = filterAttrs (n: v: v > 1) { a = 1; b = 2; } == { b = 2; };
    attrByPath = attrByPath [ "a" "b" ] 0 { a.b = 3; } == 3 && attrByPath [ "a" "c" ] 0 { a.b = 3; } == 0;
    getAttrFromPath = getAttrFromPath [ "a" "b" ] { a.b = 3; } == 3;
    hasAttrByPath = hasAttrByPath [ "a" "b" ] { a.b = 3; } && !(hasAttrByPath [ "a" "c" ] { a.b = 3; });
    setAttrByPath = setAttrByPath [ "a" "b" ] 1 == { a.b = 1; };
    genAttrs = genAttrs [ "a" "b" ] (n: n + n) == { a = "aa"; b = "bb"; };
    unique = unique [ 3 1 3 2 1 ] == [ 3 1 2 ];
    flatten = flatten [ 1 [ 2 [ 3 ] ] [ ] ] == [ 1 2 3 ];
    id = id 5 == 5;
    const = const 1 2 == 1;
    flip = flip (a: b: a - b) 1 10 == 9;
    escapeShellArg = escapeShellArg "it's" == "'it'\\''s'" && escapeShellArg "abc" == "abc";
    escapeShellArgs = escapeShellArgs [ "a b" "c" ] == "'a b' c";
    hasPrefix = hasPrefix "foo" "foobar" && !(hasPrefix "bar" "foobar");
    hasSuffix = hasSuffix "bar" "foobar" && !(hasSuffix "foo" "foobar") && !(hasSuffix "longer" "x");
    removePrefix = removePrefix "foo" "foobar" == "bar" && removePrefix "x" "foobar" == "foobar";
    removeSuffix = removeSuffix "bar" "foobar" == "foo";
    splitString = splitString "." "a.b.c" == [ "a" "b" "c" ] && splitString "/" "/usr/bin" == [ "" "usr" "bin" ];
    toUpper = toUpper "abc-1" == "ABC-1";
    toLower = toLower "ABC-1" == "abc-1";
    versionOlder = versionOlder "1.2" "1.10" && !(versionOlder "2.0" "1.9");
    versionAtLeast = versionAtLeast "3.11.2" "3.11" && !(versionAtLeast "3.9" "3.11");
    lists = lists.take 2 [ 1 2 3 ] == [ 1 2 ] && lists.drop 2 [ 1 2 3 ] == [ 3 ] && lists.last [ 1 2 ] == 2;
    foldr = foldr (x: acc: [ x ] ++ acc) [ ] [ 1 2 3 ] == [ 1 2 3 ];
    foldl = foldl (acc: x: acc ++ [ x ]) [ ] [ 1 2 3 ] == [ 1 2 3 ];
    range = range 1 4 == [ 1 2 3 4 ] && range 3 1 == [ ];
    reverseList = reverseList [ 1 2 3 ] == [ 3 2 1 ];
    subtractLists = subtractLists [ 1 ] [ 1 2 ] == [ 2 ];
    intersectLists = intersectLists [ 1 3 ] [ 1 2 3 ] == [ 1 3 ];
    imap1 = imap1 (i: v: i * v) [ 5 5 ] == [ 5 10 ];
    findFirst = findFirst (x: x > 1) null [ 1 2 3 ] == 2 && findFirst (x: x > 9) "none" [ 1 ] == "none";
    strings = strings.concatStrings [ "a" "b" ] == "ab" && strings.fixedWidthNumber 3 7 == "007";
    attrsets = attrsets.recursiveUpdate { a.b = 1; a.c = 2; } { a.b = 3; } == { a.b = 3; a.c = 2; };
    mapAttrsToList = mapAttrsToList (n: v: n + v) { a = "1"; b = "2"; } == [ "a1" "b2" ];
    collect = collect isInt { a = 1; b.c = 2; } == [ 1 2 ];
    trivial = trivial.pipe 2 [ (x: x + 1) (x: x * 3) ] == 9;
    toInt = toInt "42" == 42 && toInt " 007 " == 7;
    intersperse = intersperse "," [ "a" "b" ] == [ "a" "," "b" ];
    sanitizeDerivationName = sanitizeDerivationName "foo~bar baz" == "foo-bar-baz";
    isDerivation = isDerivation { type = "derivation"; } && !(isDerivation { });
    isStorePath = isStorePath "/nix/store/00000000000000000000000000000000-x" && !(isStorePath "/tmp/x");
    getName = getName "python3-3.11.2" == "python3" && getVersion "python3-3.11.2" == "3.11.2";
    version = lib.version == "rnix-pkgs 0.1" && trivial.release == "0.1";
    licenses = licenses.mit.spdxId == "MIT";
    platforms = builtins.elem "x86_64-linux" platforms.linux;
    functionArgs = functionArgs ({ a, b ? 1 }: a) == { a = false; b = true; };
    setFunctionArgs = functionArgs (setFunctionArgs (x: x) { a = false; }) == { a = false; };
    callPackageWith =
      let f = { a, b ? 2, c ? 3 }: a + b + c;
      in callPackageWith { a = 1; b = 20; d = 4; } f { c = 300; } == 321;
    callPackageOverride =
      let r = callPackageWith { a = 1; } ({ a }: { v = a; }) { };
      in r.v == 1 && (r.override { a = 5; }).v == 5 && (r.override (old: { a = old.a + 1; })).v == 2;
    callPackageMissing =
      !(builtins.tryEval (callPackageWith { } ({ a }: a) { })).success;
    makeOverridable =
      let f = makeOverridable ({ x, y }: { s = x + y; }); r = f { x = 1; y = 2; };
      in r.s == 3 && (r.override { y = 10; }).s == 11 && ((r.override { y = 10; }).override { x = 0; }).s == 10;
    makeExtensible = (makeExtensible (self: { a = 1; b = self.a + 1; })).extend (f: p: { a = 5; }) ? b
      && ((makeExtensible (self: { a = 1; b = self.a + 1; })).extend (f: p: { a = 5; })).b == 6;
    naturalSort = naturalSort [ "a10" "a2" "a1" ] == [ "a1" "a2" "a10" ];
    toposort = (toposort (a: b: a < b) [ 3 1 2 ]).result == [ 1 2 3 ];
    groupBy = groupBy (x: if x > 1 then "big" else "small") [ 1 2 3 ] == { big = [ 2 3 ]; small = [ 1 ]; };
    zipAttrs = zipAttrs [ { a = 1; } { a = 2; b = 3; } ] == { a = [ 1 2 ]; b = [ 3 ]; };
    versions = versions.majorMinor "3.11.2" == "3.11" && versions.major "3.11.2" == "3";
    assertMsg = !(builtins.tryEval (assertMsg false "no")).success && assertMsg true "yes";
    hasInfix = hasInfix "b-c" "ab-cd" && !(hasInfix "x" "abc");
    trim = trim "  a b \n" == "a b";
    escapeURL = escapeURL "foo/bar baz?x=1&y~" == "foo%2Fbar%20baz%3Fx%3D1%26y~";
    toKeyValue = generators.toKeyValue { } { a = 1; b = "x"; } == "a=1\nb=x\n";
    toINI = generators.toINI { } { sec = { k = true; }; } == "[sec]\nk=true\n";
  };
  failed = builtins.filter (n: !checks.${n}) (builtins.attrNames checks);
in
if failed == [ ] then true
else throw "lib checks failed: ${builtins.concatStringsSep ", " failed}"
