-- When a new row leaves a group's aggregate values unchanged (adding 0 or NULL to a SUM),
-- the non-windowed aggregate emits nothing for it (no -U/+U pair with equal rows).
CREATE TABLE vals (
  k STRING,
  v INT
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  k STRING,
  total INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT k, SUM(v) FROM vals GROUP BY k;
