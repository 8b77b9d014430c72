{ lib }:
let
  inherit (builtins) match baseNameOf isString isPath;
in
rec {
  # Leaves out version-control directories, editor backups, `result` links, ...
  cleanSourceFilter = name: type:
    let baseName = baseNameOf (toString name); in
    !((type == "directory" && (baseName == ".git" || baseName == ".svn" || baseName == "CVS" || baseName == ".hg" || baseName == ".jj"))
      || lib.hasSuffix "~" baseName
      || match "^\\.sw[a-z]$" baseName != null
      || match "^\\..*\\.sw[a-z]$" baseName != null
      || lib.hasSuffix ".o" baseName
      || lib.hasSuffix ".so" baseName
      || (type == "symlink" && lib.hasPrefix "result" baseName)
      || (type == "unknown"));

  # cleanSourceWith { src, filter ? _: _: true, name ? "source" }: composable filtered sources.
  cleanSourceWith = { src, filter ? _path: _type: true, name ? null }:
    let
      orig = toSourceAttributes src;
    in
    fromSourceAttributes {
      inherit (orig) origSrc;
      filter = path: type: filter path type && orig.filter path type;
      name = if name != null then name else orig.name;
    };

  cleanSource = src: cleanSourceWith { filter = cleanSourceFilter; inherit src; };

  sourceByRegex = src: regexes:
    let
      isFiltered = src ? _isLibCleanSourceWith;
      origSrc = if isFiltered then src.origSrc else src;
    in
    cleanSourceWith {
      filter = path: type:
        let relPath = lib.removePrefix (toString origSrc + "/") (toString path);
        in lib.any (re: match re relPath != null) regexes;
      inherit src;
    };

  sourceFilesBySuffices = src: exts:
    cleanSourceWith {
      inherit src;
      filter = name: type: type == "directory" || lib.any (ext: lib.hasSuffix ext name) exts;
    };

  toSourceAttributes = src:
    if src ? _isLibCleanSourceWith then { inherit (src) origSrc filter name; }
    else { origSrc = src; filter = _: _: true; name = "source"; };

  fromSourceAttributes = { origSrc, filter, name }:
    {
      _isLibCleanSourceWith = true;
      inherit origSrc filter name;
      outPath = builtins.path { inherit filter name; path = origSrc; };
    };

  pathIsDirectory = path: (builtins.readFileType or (p: (builtins.readDir (dirOf p)).${baseNameOf p})) path == "directory";
  pathIsRegularFile = path: (builtins.readDir (dirOf path)).${baseNameOf path} or null == "regular";
}
