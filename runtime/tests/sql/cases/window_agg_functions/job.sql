-- Aggregate functions in a TUMBLE window (append-only result): COUNT(*), COUNT(col) and
-- COUNT(DISTINCT col) skip NULLs, SUM/AVG/MIN/MAX over INT, DECIMAL, DOUBLE and STRING,
-- AVG of an INT column is an INT (integer division), and FILTER (WHERE ...) clauses.
-- A group whose values are all NULL gets NULL for SUM/AVG/MIN/MAX and 0 for COUNT.
-- NULL is a group key of its own (user_name NULL).
CREATE TABLE orders (
  user_name STRING,
  item STRING,
  amount INT,
  price DECIMAL(10, 2),
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  window_start TIMESTAMP(3),
  user_name STRING,
  cnt_star BIGINT,
  cnt_item BIGINT,
  cnt_distinct_item BIGINT,
  sum_amount INT,
  avg_amount INT,
  avg_amount_double DOUBLE,
  sum_price DECIMAL(38, 2),
  avg_price DECIMAL(38, 6),
  min_price DECIMAL(10, 2),
  max_item STRING,
  min_ts TIMESTAMP(3),
  cnt_apple BIGINT,
  sum_big_amount INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  window_start,
  user_name,
  COUNT(*),
  COUNT(item),
  COUNT(DISTINCT item),
  SUM(amount),
  AVG(amount),
  AVG(CAST(amount AS DOUBLE)),
  SUM(price),
  AVG(price),
  MIN(price),
  MAX(item),
  MIN(CAST(ts AS TIMESTAMP(3))),
  COUNT(*) FILTER (WHERE item = 'apple'),
  SUM(amount) FILTER (WHERE amount >= 3)
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, user_name;
