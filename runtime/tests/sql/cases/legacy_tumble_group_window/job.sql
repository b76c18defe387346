-- Legacy group window: GROUP BY TUMBLE(ts, INTERVAL '10' SECOND) with TUMBLE_START,
-- TUMBLE_END and TUMBLE_ROWTIME (= window end - 1 ms, a rowtime attribute).
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
  user_name STRING,
  w_start TIMESTAMP(3),
  w_end TIMESTAMP(3),
  w_rowtime TIMESTAMP(3),
  cnt BIGINT,
  total_amount INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  user_name,
  TUMBLE_START(ts, INTERVAL '10' SECOND),
  TUMBLE_END(ts, INTERVAL '10' SECOND),
  TUMBLE_ROWTIME(ts, INTERVAL '10' SECOND),
  COUNT(*),
  SUM(amount)
FROM orders
GROUP BY user_name, TUMBLE(ts, INTERVAL '10' SECOND);
