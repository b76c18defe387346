-- Aggregates over an updating input: the inner query sums ms per user; the outer query
-- computes one global row with COUNT, SUM, MAX, MIN and AVG over the per-user totals.
-- Every inner update arrives as a retraction (-U) followed by an addition (+U), so MAX and
-- MIN must handle the retraction of the current extreme value.
CREATE TABLE clicks (
  user_name STRING,
  page STRING,
  ms INT,
  ts TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  users BIGINT,
  sum_total INT,
  max_total INT,
  min_total INT,
  avg_total INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT COUNT(*), SUM(total), MAX(total), MIN(total), AVG(total)
FROM (
  SELECT user_name, SUM(ms) AS total
  FROM clicks
  GROUP BY user_name
);
