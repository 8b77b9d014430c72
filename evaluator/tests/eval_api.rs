//! Tests of the evaluator's public API and extension points.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use evaluator::eval::{mkerr, with_big_stack, EvalOptions, Evaluator, StoreHooks, Value};

fn eval_str(src: &'static str) -> Result<String, String> {
    with_big_stack(move || {
        let mut ev = Evaluator::new(EvalOptions::default());
        let v = ev
            .eval_expr(src, Path::new("/"))
            .map_err(|e| ev.format_error(&e))?;
        ev.print_value(&v, true).map_err(|e| ev.format_error(&e))
    })
}

/// Nix 2.8's `builtins.attrNames builtins` (recorded with `nix-instantiate --eval`).
const NIX_28_BUILTINS: &str = r#"[ "abort" "add" "addErrorContext" "all" "any" "appendContext" "attrNames" "attrValues" "baseNameOf" "bitAnd" "bitOr" "bitXor" "builtins" "catAttrs" "ceil" "compareVersions" "concatLists" "concatMap" "concatStringsSep" "currentSystem" "currentTime" "deepSeq" "derivation" "derivationStrict" "dirOf" "div" "elem" "elemAt" "false" "fetchGit" "fetchMercurial" "fetchTarball" "fetchTree" "fetchurl" "filter" "filterSource" "findFile" "floor" "foldl'" "fromJSON" "fromTOML" "functionArgs" "genList" "genericClosure" "getAttr" "getContext" "getEnv" "groupBy" "hasAttr" "hasContext" "hashFile" "hashString" "head" "import" "intersectAttrs" "isAttrs" "isBool" "isFloat" "isFunction" "isInt" "isList" "isNull" "isPath" "isString" "langVersion" "length" "lessThan" "listToAttrs" "map" "mapAttrs" "match" "mul" "nixPath" "nixVersion" "null" "parseDrvName" "partition" "path" "pathExists" "placeholder" "readDir" "readFile" "removeAttrs" "replaceStrings" "scopedImport" "seq" "sort" "split" "splitVersion" "storeDir" "storePath" "stringLength" "sub" "substring" "tail" "throw" "toFile" "toJSON" "toPath" "toString" "toXML" "trace" "true" "tryEval" "typeOf" "unsafeDiscardOutputDependency" "unsafeDiscardStringContext" "unsafeGetAttrPos" "zipAttrsWith" ]"#;

#[test]
fn builtin_names_match_nix_2_8() {
    assert_eq!(
        eval_str("builtins.attrNames builtins").unwrap(),
        NIX_28_BUILTINS
    );
}

#[test]
fn deep_recursion_is_a_clean_error() {
    let r = eval_str("let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 1000000");
    let e = r.expect_err("a million nested calls exceed max-call-depth");
    assert!(e.contains("stack overflow; max-call-depth exceeded"), "{e}");
    assert_eq!(
        eval_str("let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 5000").unwrap(),
        "5000"
    );
}

#[test]
fn infinite_recursion_is_detected() {
    let e = eval_str("let x = x + 1; in x").unwrap_err();
    assert!(e.contains("infinite recursion encountered"), "{e}");
}

#[test]
fn try_eval_catches_throw_and_assert_only() {
    assert_eq!(
        eval_str(r#"(builtins.tryEval (throw "x")).success"#).unwrap(),
        "false"
    );
    assert_eq!(
        eval_str(r#"(builtins.tryEval (assert false; 1)).success"#).unwrap(),
        "false"
    );
    assert!(eval_str(r#"(builtins.tryEval (abort "x")).success"#)
        .unwrap_err()
        .contains("evaluation aborted"));
    assert!(eval_str(r#"(builtins.tryEval ({}).x).success"#)
        .unwrap_err()
        .contains("attribute 'x' missing"));
}

#[test]
fn store_builtins_fail_clearly_until_overridden() {
    let e = eval_str(r#"builtins.toFile "a" "b""#).unwrap_err();
    assert!(e.contains("requires a store"), "{e}");
    let e = eval_str(r#""${/etc}""#).unwrap_err();
    assert!(e.contains("requires a store"), "{e}");
}

struct FakeStore {
    root: PathBuf,
}

impl StoreHooks for FakeStore {
    fn copy_path_to_store(&self, path: &Path) -> Result<String, String> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(format!(
            "/nix/store/00000000000000000000000000000000-{name}"
        ))
    }
    fn real_path(&self, path: &Path) -> PathBuf {
        match path.strip_prefix("/nix/store") {
            Ok(rest) => self.root.join("nix/store").join(rest),
            Err(_) => path.to_path_buf(),
        }
    }
    fn resolve_search_path(&self, name: &str) -> Option<PathBuf> {
        (name == "nixpkgs").then(|| PathBuf::from("/nix/store/fake-nixpkgs"))
    }
}

#[test]
fn hooks_copy_map_and_search_path() {
    let dir = tempfile::tempdir().unwrap();
    let pk = dir.path().join("nix/store/fake-nixpkgs");
    std::fs::create_dir_all(&pk).unwrap();
    std::fs::write(
        pk.join("default.nix"),
        "{ system ? null }: { hello = \"world\"; inherit system; }",
    )
    .unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("main.py"), "print(1)").unwrap();
    std::fs::write(src.join("default.nix"), "x").unwrap();
    let root = dir.path().to_path_buf();
    let out = with_big_stack(move || {
        let mut ev = Evaluator::new(EvalOptions::default());
        ev.set_hooks(Rc::new(FakeStore { root: root.clone() }));
        // a filterSource-like builtin that calls the Nix filter for every entry
        ev.set_builtin(
            "filterSource",
            2,
            Rc::new(|ev: &mut Evaluator, args: Vec<Value>| {
                let dir = match &args[1] {
                    Value::Path(p) => p.to_string(),
                    _ => return Err(mkerr("filterSource: expected a path")),
                };
                let mut kept = Vec::new();
                let mut names: Vec<String> = std::fs::read_dir(&dir)
                    .map_err(|e| mkerr(e.to_string()))?
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                for n in names {
                    let r = ev.call_values(
                        args[0].clone(),
                        vec![
                            Value::string(format!("{dir}/{n}")),
                            Value::string("regular"),
                        ],
                    )?;
                    if let Value::Bool(true) = r {
                        kept.push(n);
                    }
                }
                Ok(Value::string(kept.join(",")))
            }),
        );
        let code = format!(
            r#"let
              isNix = path: builtins.match "^.*(\\.nix)$" (baseNameOf path) != null;
              pkgs = import <nixpkgs> {{ system = "x86_64-linux"; }};
            in {{
              kept = builtins.filterSource (p: t: !(isNix p)) {src};
              copied = "${{{src}/main.py}}";
              ctx = builtins.getContext "${{{src}/main.py}}";
              inherit (pkgs) hello system;
            }}"#,
            src = src.display()
        );
        let v = ev
            .eval_expr(&code, Path::new("/"))
            .map_err(|e| ev.format_error(&e))?;
        ev.print_value(&v, true).map_err(|e| ev.format_error(&e))
    })
    .unwrap();
    assert_eq!(
        out,
        "{ copied = \"/nix/store/00000000000000000000000000000000-main.py\"; ctx = { \"/nix/store/00000000000000000000000000000000-main.py\" = { path = true; }; }; hello = \"world\"; kept = \"main.py\"; system = \"x86_64-linux\"; }"
    );
}

#[test]
fn derivation_is_built_on_derivation_strict() {
    let out = with_big_stack(|| {
        let mut ev = Evaluator::new(EvalOptions::default());
        ev.set_builtin(
            "derivationStrict",
            1,
            Rc::new(|ev: &mut Evaluator, args: Vec<Value>| {
                let a = ev.expect_attrs(&args[0])?;
                let name = a.get("name").cloned().ok_or_else(|| mkerr("no name"))?;
                let name = ev.force(&name)?;
                let name = ev.expect_string(&name)?.to_str_lossy().into_owned();
                Ok(Value::attrs_from([
                    ("drvPath", Value::string(format!("/nix/store/d-{name}.drv"))),
                    ("out", Value::string(format!("/nix/store/o-{name}"))),
                    ("dev", Value::string(format!("/nix/store/o-{name}-dev"))),
                ]))
            }),
        );
        let v = ev
            .eval_expr(
                r#"let d = derivation { name = "x"; system = "s"; builder = "b"; outputs = [ "out" "dev" ]; }; in
                   [ d.type d.outPath d.drvPath d.outputName d.dev.outPath (map (o: o.outputName) d.all) "${d}" ]"#,
                Path::new("/"),
            )
            .map_err(|e| ev.format_error(&e))?;
        let s = ev.print_value(&v, true).map_err(|e| ev.format_error(&e))?;
        let v2 = ev
            .eval_expr(r#"{ a = derivation { name = "y"; system = "s"; builder = "b"; }; }"#, Path::new("/"))
            .map_err(|e| ev.format_error(&e))?;
        let drvs = ev.find_derivations(&v2, &[]).map_err(|e| ev.format_error(&e))?;
        Ok::<_, String>((s, format!("{:?}", drvs.iter().map(|d| (&d.attr_path, &d.drv_path, &d.out_path, &d.output_name)).collect::<Vec<_>>())))
    })
    .unwrap();
    assert_eq!(
        out.0,
        r#"[ "derivation" "/nix/store/o-x" "/nix/store/d-x.drv" "out" "/nix/store/o-x-dev" [ "out" "dev" ] "/nix/store/o-x" ]"#
    );
    assert_eq!(
        out.1,
        r#"[("a", "/nix/store/d-y.drv", "/nix/store/o-y", "out")]"#
    );
}

#[test]
fn auto_call_and_attr_path() {
    let out = with_big_stack(|| {
        let mut ev = Evaluator::new(EvalOptions::default());
        let f = ev
            .eval_expr("{ a ? 1, b }: { x.y = [ a b ]; }", Path::new("/"))
            .unwrap();
        let args = vec![("b".to_string(), evaluator::eval::Thunk::new(Value::Int(2)))];
        let v = ev.select_attr_path(f, "x.y.1", &args).unwrap();
        ev.print_value(&v, true).unwrap()
    });
    assert_eq!(out, "2");
}

#[test]
fn bad_input_gives_errors_not_panics() {
    for src in [
        "(",
        "let in",
        "{ a = 1; a = 2; }",
        "x",
        "1 +",
        "\"${",
        "{ a.b = 1; a = 2; }",
        "''",
        "builtins.foo",
        "[ 1 2 ] + 1",
    ] {
        let r = eval_str(src);
        assert!(r.is_err() || src == "''", "{src} should fail: {r:?}");
    }
}

#[test]
fn cyclic_structures_error_cleanly() {
    for src in [
        "let x = { a = x; }; y = { a = y; }; in x == y",
        "let x = [ x 1 2 ]; in toString x",
        "let x = { a = x; }; in builtins.toXML x",
        "let x = { a = x; }; in builtins.toJSON x",
        "let x = [ 1 x ]; y = [ 1 y ]; in x < y",
    ] {
        let e = eval_str(src).unwrap_err();
        assert!(
            e.contains("stack overflow; max-call-depth exceeded"),
            "{src}: {e}"
        );
    }
    // printing a cyclic value terminates thanks to «repeated»
    assert_eq!(
        eval_str("let x = { a = x; }; in x").unwrap(),
        "{ a = «repeated»; }"
    );
}
