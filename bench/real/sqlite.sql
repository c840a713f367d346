-- Real-program workload: sqlite3 on an in-memory database.
-- The runner replaces @ROWS@ and feeds this to `sqlite3 :memory:`.
-- Rows carry deterministic text of varying length (no random()), then the
-- script indexes, queries, updates and deletes, which exercises sqlite's
-- page cache and row buffers through malloc.
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, body TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < @ROWS@)
INSERT INTO t(id, grp, name, body)
SELECT x, x % 97, printf('name-%08d', (x * 7919) % 1000003),
       printf('%.*c', 10 + (x * 31) % 300, 'b') FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, id);
SELECT 'groups', count(*) FROM (SELECT grp, sum(length(body)) FROM t GROUP BY grp);
SELECT 'sorted', count(*) FROM (SELECT name FROM t ORDER BY body, name);
UPDATE t SET body = body || body WHERE id % 3 = 0;
DELETE FROM t WHERE id % 2 = 0;
SELECT 'left', count(*) FROM t;
CREATE TABLE u AS SELECT grp, group_concat(name) AS names FROM t GROUP BY grp;
SELECT 'joined', count(*) FROM t JOIN u USING (grp) WHERE t.id % 50 = 1;
