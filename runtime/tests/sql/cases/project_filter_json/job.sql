-- Projection with expressions and aliases, and a WHERE filter on a nullable column
-- (rows where the predicate is NULL are dropped).
CREATE TABLE src (
  id BIGINT,
  name STRING,
  score INT,
  active BOOLEAN
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  id BIGINT,
  name STRING,
  doubled INT,
  active BOOLEAN
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT id, name, score * 2 AS doubled, active
FROM src
WHERE score > 8 AND active IS NOT FALSE;
