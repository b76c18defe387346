-- Non-windowed GROUP BY on an append-only input: every row updates its user's group, so
-- the result is an updating changelog: +I for a user's first row, then -U (old values) and
-- +U (new values) for each later row.
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
  user_name STRING,
  clicks BIGINT,
  total_ms INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT user_name, COUNT(*), SUM(ms)
FROM clicks
GROUP BY user_name;
