-- The watermark delay (1 hour) is longer than the whole input spans, so no window fires
-- while rows are read; all windows, including out-of-order ones, fire when the bounded
-- input ends (the end of input advances the watermark to +infinity). Nothing is late.
CREATE TABLE orders (
  user_name STRING,
  item STRING,
  amount INT,
  price DECIMAL(10, 2),
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' HOUR
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  item STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  cnt BIGINT,
  total_amount INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT item, window_start, window_end, COUNT(*), SUM(amount)
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '15' SECOND))
GROUP BY item, window_start, window_end;
