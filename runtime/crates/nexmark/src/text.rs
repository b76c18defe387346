//! Nexmark's strings: the fixed name/city/state lists, random words, `extra` padding cut from a
//! shared pool of letters, and the channel/url table of bids. Built once, deterministically.

use std::sync::OnceLock;

use crate::rng::Rng;

pub(crate) const US_STATES: &[&[u8]] = &[b"AZ", b"CA", b"ID", b"OR", b"WA", b"WY"];

pub(crate) const US_CITIES: &[&[u8]] = &[
    b"Phoenix",
    b"Los Angeles",
    b"San Francisco",
    b"Boise",
    b"Portland",
    b"Bend",
    b"Redmond",
    b"Seattle",
    b"Kent",
    b"Cheyenne",
];

pub(crate) const FIRST_NAMES: &[&[u8]] = &[
    b"Peter", b"Paul", b"Luke", b"John", b"Saul", b"Vicky", b"Kate", b"Julie", b"Sarah", b"Deiter",
    b"Walter",
];

pub(crate) const LAST_NAMES: &[&[u8]] = &[
    b"Shultz", b"Abrams", b"Spencer", b"White", b"Bartels", b"Walton", b"Smith", b"Jones", b"Noris",
];

pub(crate) const HOT_CHANNELS: [&[u8]; 4] = [b"Google", b"Facebook", b"Baidu", b"Apple"];

/// Number of non-hot channels, each with its own url.
pub(crate) const NUM_CHANNELS: u64 = 10_000;

const POOL_LEN: usize = 64 << 10;

/// Steps per power of ten in [`Tables::price_steps`].
pub(crate) const PRICE_STEPS: usize = 1024;

/// Nexmark's shortest random word.
const MIN_WORD_LEN: u64 = 3;

/// Placeholder in [`CHARS`] for the word's special character (a space, or `_` in urls).
const SPECIAL: u8 = 0;

/// Maps a random byte to a character: the special one with probability 20/256 (Nexmark: 1/13),
/// else a lowercase letter, close to uniformly. Eight characters per 64-bit draw.
static CHARS: [u8; 256] = {
    let mut t = [SPECIAL; 256];
    let mut i = 20;
    while i < 256 {
        t[i] = b'a' + ((i - 20) % 26) as u8;
        i += 1;
    }
    t
};

/// Appends a random word of `3..max_len` characters (`max_len` ≤ 128) where about one character
/// in 13 is `special`; with `special` a space, the word is trimmed, as Nexmark does.
#[inline]
pub(crate) fn push_word(out: &mut Vec<u8>, rng: &mut Rng, max_len: u64, special: u8) {
    let len = (MIN_WORD_LEN + rng.below(max_len - MIN_WORD_LEN)) as usize;
    let mut buf = [0u8; 128];
    for chunk in buf[..len].chunks_mut(8) {
        let bytes = rng.next_u64().to_le_bytes();
        for (c, b) in chunk.iter_mut().zip(bytes) {
            let ch = CHARS[b as usize];
            *c = if ch == SPECIAL { special } else { ch };
        }
    }
    let word = &buf[..len];
    out.extend_from_slice(if special == b' ' {
        word.trim_ascii()
    } else {
        word
    });
}

/// Appends the `extra` padding that brings an event of `current_size` bytes to
/// `desired_average` on average: a length uniform in ±20% around the difference, as Nexmark.
#[inline]
pub(crate) fn push_extra(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    current_size: usize,
    desired_average: u32,
) {
    let desired_average = desired_average as usize;
    if current_size > desired_average {
        return;
    }
    let want = desired_average - current_size;
    // round(want × 0.2), halves up like Java's Math.round.
    let delta = (2 * want + 5) / 10;
    let len = want - delta
        + if delta == 0 {
            0
        } else {
            rng.below(2 * delta as u64) as usize
        };
    let pool = &tables().pool;
    if len <= pool.len() / 2 {
        let start = rng.below((pool.len() - len) as u64) as usize;
        out.extend_from_slice(&pool[start..start + len]);
    } else {
        let mut left = len;
        while left > 0 {
            let n = left.min(pool.len());
            out.extend_from_slice(&pool[..n]);
            left -= n;
        }
    }
}

/// Tables built once per process from fixed seeds.
pub(crate) struct Tables {
    /// Random lowercase letters that `extra` strings are cut from (Nexmark cuts them from a
    /// 1 MiB one; 64 KiB stays in cache and is just as good as padding).
    pub(crate) pool: Vec<u8>,
    /// Urls of the hot channels, index-aligned with [`HOT_CHANNELS`].
    pub(crate) hot_urls: [Vec<u8>; 4],
    /// The non-hot channels' names (`channel-<i>`).
    pub(crate) channels: Arena,
    /// The non-hot channels' urls, index-aligned with `channels`.
    pub(crate) urls: Arena,
    /// 10^(i / PRICE_STEPS) for i in 0..PRICE_STEPS, for prices.
    pub(crate) price_steps: Vec<f64>,
}

/// Strings stored back to back, so looking one up touches one contiguous block.
#[derive(Default)]
pub(crate) struct Arena {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl Arena {
    fn push(&mut self, s: &[u8]) {
        self.bytes.extend_from_slice(s);
        self.ends.push(self.bytes.len() as u32);
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }
}

pub(crate) fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(build_tables)
}

fn build_tables() -> Tables {
    let mut rng = Rng::seeded(0x5EED_0F7A_B1E5);
    let mut pool = Vec::with_capacity(POOL_LEN);
    while pool.len() < POOL_LEN {
        for b in rng.next_u64().to_le_bytes() {
            pool.push(b'a' + ((u32::from(b) * 26) >> 8) as u8);
        }
    }
    let hot_urls = std::array::from_fn(|_| base_url(&mut rng));
    let (mut channels, mut urls) = (Arena::default(), Arena::default());
    for i in 0..NUM_CHANNELS as u32 {
        let mut url = base_url(&mut rng);
        if rng.below(10) > 0 {
            // Nexmark appends |Integer.reverse(i)|, Java's wrapping abs included.
            let id = (i.reverse_bits() as i32).wrapping_abs();
            url.extend_from_slice(format!("&channel_id={id}").as_bytes());
        }
        urls.push(&url);
        channels.push(format!("channel-{i}").as_bytes());
    }
    let price_steps = (0..PRICE_STEPS)
        .map(|i| 10f64.powf(i as f64 / PRICE_STEPS as f64))
        .collect();
    Tables {
        pool,
        hot_urls,
        channels,
        urls,
        price_steps,
    }
}

fn base_url(rng: &mut Rng) -> Vec<u8> {
    let mut url = b"https://www.nexmark.com/".to_vec();
    for _ in 0..3 {
        push_word(&mut url, rng, 5, b'_');
        url.push(b'/');
    }
    url.extend_from_slice(b"item.htm?query=1");
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_trimmed_lowercase() {
        let mut rng = Rng::for_event(1);
        let mut spaces = 0;
        let mut total = 0;
        for _ in 0..2000 {
            let mut out = Vec::new();
            push_word(&mut out, &mut rng, 100, b' ');
            assert!(out.len() < 100);
            assert!(out.first() != Some(&b' ') && out.last() != Some(&b' '));
            assert!(out.iter().all(|c| c.is_ascii_lowercase() || *c == b' '));
            spaces += out.iter().filter(|c| **c == b' ').count();
            total += out.len();
        }
        let share = spaces as f64 / total as f64;
        assert!((0.06..0.09).contains(&share), "{share}");
    }

    #[test]
    fn extra_pads_to_average() {
        let mut rng = Rng::for_event(2);
        let mut total = 0;
        for _ in 0..10_000 {
            let mut out = Vec::new();
            push_extra(&mut out, &mut rng, 32, 100);
            assert!((54..=82).contains(&out.len()), "{}", out.len());
            total += out.len();
        }
        let avg = total as f64 / 10_000.0;
        assert!((66.0..70.0).contains(&avg), "{avg}");
        let mut out = Vec::new();
        push_extra(&mut out, &mut rng, 300, 100);
        assert!(out.is_empty());
    }

    #[test]
    fn channel_table_is_like_nexmark() {
        let t = tables();
        assert_eq!(t.pool.len(), POOL_LEN);
        assert!(t.pool.iter().all(u8::is_ascii_lowercase));
        assert_eq!(t.channels.len(), NUM_CHANNELS as usize);
        assert_eq!(t.urls.len(), NUM_CHANNELS as usize);
        assert_eq!(t.channels.get(0), b"channel-0");
        assert_eq!(t.channels.get(42), b"channel-42");
        for i in 0..t.urls.len() {
            assert!(t.urls.get(i).starts_with(b"https://www.nexmark.com/"));
        }
        assert!(t.hot_urls[0].ends_with(b"/item.htm?query=1"));
    }
}
