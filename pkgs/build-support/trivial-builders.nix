# runCommand, writeText(File), writeShellScript(Bin), symlinkJoin, ... with
# nixpkgs' interfaces, built by the stdenv's bash.
{ lib, stdenv, stdenvNoCC, bash, coreutils }:

rec {
  runCommandWith = { stdenv, name, runLocal ? false, derivationArgs ? { } }: buildCommand:
    stdenv.mkDerivation ({
      inherit name buildCommand;
      enableParallelBuilding = true;
    }
    // lib.optionalAttrs runLocal { preferLocalBuild = true; allowSubstitutes = false; }
    // derivationArgs);

  runCommand = name: env: runCommandWith { stdenv = stdenvNoCC; runLocal = false; inherit name; derivationArgs = env; };
  runCommandNoCC = runCommand;
  runCommandLocal = name: env: runCommandWith { stdenv = stdenvNoCC; runLocal = true; inherit name; derivationArgs = env; };
  runCommandCC = name: env: runCommandWith { stdenv = stdenv; runLocal = false; inherit name; derivationArgs = env; };
  runCommandNoCCLocal = runCommandLocal;

  # writeTextFile { name, text, executable ? false, destination ? "", checkPhase ? "", ... }
  writeTextFile =
    { name
    , text
    , executable ? false
    , destination ? ""
    , checkPhase ? ""
    , meta ? { }
    , allowSubstitutes ? false
    , preferLocalBuild ? true
    , derivationArgs ? { }
    }:
    assert lib.assertMsg (destination == "" || lib.hasPrefix "/" destination)
      "destination must be an absolute path, relative to the derivation's out path, got '${destination}' instead";
    runCommand name
      ({
        inherit text executable checkPhase allowSubstitutes preferLocalBuild;
        destination = destination;
        meta = lib.optionalAttrs (executable && destination != "") {
          mainProgram = baseNameOf destination;
        } // meta;
      } // derivationArgs)
      ''
        target=$out$destination
        mkdir -p "$(dirname "$target")"
        printf '%s' "$text" > "$target"
        eval "$checkPhase"
        if [ -n "$executable" ]; then
          chmod +x "$target"
        fi
      '';

  writeText = name: text: writeTextFile { inherit name text; };
  writeTextDir = path: text: writeTextFile {
    inherit text;
    name = builtins.baseNameOf path;
    destination = "/${path}";
  };
  writeScript = name: text: writeTextFile { inherit name text; executable = true; };
  writeScriptBin = name: text: writeTextFile { inherit name text; executable = true; destination = "/bin/${name}"; };

  writeShellScript = name: text: writeTextFile {
    inherit name;
    executable = true;
    text = ''
      #!${stdenv.shell}
      ${text}
    '';
    checkPhase = ''
      ${stdenv.shell} -n "$target"
    '';
  };

  writeShellScriptBin = name: text: writeTextFile {
    inherit name;
    executable = true;
    destination = "/bin/${name}";
    text = ''
      #!${stdenv.shell}
      ${text}
    '';
    checkPhase = ''
      ${stdenv.shell} -n "$target"
    '';
    meta.mainProgram = name;
  };

  writeShellApplication =
    { name, text, runtimeInputs ? [ ], runtimeEnv ? null, meta ? { }, checkPhase ? null, excludeShellChecks ? [ ], bashOptions ? [ "errexit" "nounset" "pipefail" ], derivationArgs ? { } }:
    writeTextFile {
      inherit name meta derivationArgs;
      executable = true;
      destination = "/bin/${name}";
      text = ''
        #!${stdenv.shell}
        ${lib.concatMapStringsSep "\n" (option: "set -o ${option}") bashOptions}
      '' + lib.optionalString (runtimeEnv != null)
        (lib.concatStrings (lib.mapAttrsToList (n: v: "export ${n}=${lib.escapeShellArg (toString v)}\n") runtimeEnv))
      + lib.optionalString (runtimeInputs != [ ]) ''
        export PATH="${lib.makeBinPath runtimeInputs}:$PATH"
      '' + ''

        ${text}
      '';
      checkPhase = if checkPhase == null then ''
        runHook preCheck
        ${stdenv.shell} -n "$target"
        runHook postCheck
      '' else checkPhase;
    };

  writeJSON = name: value: writeText name (builtins.toJSON value);

  # makeSetupHook { name, deps ? [], substitutions ? {} } script: a package whose
  # nix-support/setup-hook is `script` with @name@ substituted; sourced by the
  # builds that have it in (native)buildInputs.
  makeSetupHook =
    { name ? lib.warn "calling makeSetupHook without passing a name is deprecated." "hook"
    , deps ? [ ]
    , propagatedBuildInputs ? [ ]
    , substitutions ? { }
    , passthru ? { }
    , meta ? { }
    }:
    script:
    runCommand name
      (substitutions // {
        inherit meta passthru;
        hookScript = script;
        propagatedDeps = lib.toList deps ++ propagatedBuildInputs;
      })
      ''
        mkdir -p $out/nix-support
        substituteAll "$hookScript" $out/nix-support/setup-hook
        if [ -n "$propagatedDeps" ]; then
          printWords $propagatedDeps > $out/nix-support/propagated-build-inputs
        fi
      '';

  makeWrapper = makeSetupHook {
    name = "make-shell-wrapper-hook";
    substitutions = { shell = stdenv.shell; };
  } ./make-wrapper.sh;
  makeShellWrapper = makeWrapper;

  # symlinkJoin { name, paths, postBuild ? "" }: one directory of symlinks to
  # the files of all `paths` (later paths lose on collision, as lndir does).
  symlinkJoin =
    args_@{ name, paths, preferLocalBuild ? true, allowSubstitutes ? false, postBuild ? "", ... }:
    let
      args = builtins.removeAttrs args_ [ "name" "postBuild" ] // {
        inherit preferLocalBuild allowSubstitutes;
        paths = map toString paths;
      };
    in
    runCommand name args ''
      mkdir -p "$out"
      for i in $paths; do
        if [ -z "$(find "$i" -prune -empty)" ]; then
          (cd "$i" && find . -mindepth 1 \( -type d -printf '%P\n' \) ) | while IFS= read -r d; do
            mkdir -p "$out/$d"
          done
          (cd "$i" && find . -mindepth 1 \( ! -type d -printf '%P\n' \) ) | while IFS= read -r f; do
            if [ ! -e "$out/$f" ] && [ ! -L "$out/$f" ]; then
              ln -s "$i/$f" "$out/$f"
            fi
          done
        fi
      done
      ${postBuild}
    '';

  linkFarm = name: entries:
    let
      entries' =
        if builtins.isList entries then entries
        else lib.mapAttrsToList (name: path: { inherit name path; }) entries;
      linkCommands = lib.concatMapStrings (x: ''
        mkdir -p -- "$(dirname -- ${lib.escapeShellArg "${x.name}"})"
        ln -s -- ${lib.escapeShellArg "${x.path}"} ${lib.escapeShellArg "${x.name}"}
      '') entries';
    in
    runCommand name { preferLocalBuild = true; allowSubstitutes = false; } ''
      mkdir -p $out
      cd $out
      ${linkCommands}
    '';
  linkFarmFromDrvs = name: drvs: linkFarm name (map (drv: { name = drv.name; path = drv; }) drvs);

  concatTextFile = { name, files, executable ? false, checkPhase ? "", meta ? { }, destination ? "" }:
    runCommandLocal name { inherit files executable checkPhase meta destination; } ''
      file=$out$destination
      mkdir -p "$(dirname "$file")"
      cat $files > "$file"
      if [ -n "$executable" ]; then chmod +x "$file"; fi
      eval "$checkPhase"
    '';
  concatText = name: files: concatTextFile { inherit name files; };
}
