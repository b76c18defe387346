-- Non-windowed GROUP BY with COUNT(col) (NULL skipped), COUNT(DISTINCT), AVG of an INT
-- (an INT, truncated), MIN/MAX of INT and STRING, and aggregate FILTER clauses; updating result.
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
  page STRING,
  cnt BIGINT,
  cnt_ms BIGINT,
  users BIGINT,
  avg_ms INT,
  min_ms INT,
  max_ms INT,
  first_user STRING,
  slow_clicks BIGINT,
  fast_ms INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  page,
  COUNT(*),
  COUNT(ms),
  COUNT(DISTINCT user_name),
  AVG(ms),
  MIN(ms),
  MAX(ms),
  MIN(user_name),
  COUNT(*) FILTER (WHERE ms > 100),
  SUM(ms) FILTER (WHERE ms <= 100)
FROM clicks
GROUP BY page;
