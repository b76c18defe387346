-- An aggregate without GROUP BY over the whole stream: a single result row, inserted for
-- the first input row and then updated (-U/+U) by every following row.
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
  n BIGINT,
  total_ms INT,
  max_ms INT,
  distinct_users BIGINT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT COUNT(*), SUM(ms), MAX(ms), COUNT(DISTINCT user_name)
FROM clicks;
