-- HOP window TVF: 10 s windows sliding every 5 s, so every row falls into two windows.
-- Global (not per-key) aggregation per window.
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
  window_end TIMESTAMP(3),
  cnt BIGINT,
  total_amount INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT window_start, window_end, COUNT(*), SUM(amount)
FROM TABLE(HOP(TABLE orders, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
GROUP BY window_start, window_end;
