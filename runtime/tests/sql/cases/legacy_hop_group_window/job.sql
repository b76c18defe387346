-- Legacy group window: GROUP BY HOP(ts, slide 5 s, size 10 s) with HOP_START, HOP_END
-- and HOP_ROWTIME, aggregated over all users.
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
  w_start TIMESTAMP(3),
  w_end TIMESTAMP(3),
  w_rowtime TIMESTAMP(3),
  cnt BIGINT,
  total_amount INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  HOP_START(ts, INTERVAL '5' SECOND, INTERVAL '10' SECOND),
  HOP_END(ts, INTERVAL '5' SECOND, INTERVAL '10' SECOND),
  HOP_ROWTIME(ts, INTERVAL '5' SECOND, INTERVAL '10' SECOND),
  COUNT(*),
  SUM(amount)
FROM orders
GROUP BY HOP(ts, INTERVAL '5' SECOND, INTERVAL '10' SECOND);
