//! A corpus of signed events shaped like real Nostr traffic, from a seed.
//!
//! Shapes (notes/nostr.md §7, from a 208 M-event archive): kind 1 notes are the bulk, then
//! reactions (7), reposts (6), profiles (0), follow lists (3), deletions (5) and long-form
//! articles (30023); content averages ≈ 350 bytes with a long tail; authors follow a Zipf-like
//! law (a few post a lot); replies and reactions point at earlier events and carry `e` and `p`
//! tags; some notes carry hashtags. Every event is validly signed, so stores and relays can
//! check ids and signatures.

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::nostr::{Event, EventId, Keys, Kind, PubKey, Tag, UnixTime, UnsignedEvent};

/// Words the content is made of (so it compresses roughly like text, not like noise).
const WORDS: &[&str] = &[
    "nostr", "relay", "node", "home", "the", "a", "and", "of", "to", "is", "on", "my", "pi",
    "network", "post", "today", "coffee", "bitcoin", "open", "source", "rust", "build", "works",
    "finally", "running", "friends", "zap", "gm", "why", "how", "what", "this", "that", "love",
];

/// Hashtags, few and popular, as in real traffic.
const HASHTAGS: &[&str] = &[
    "nostr",
    "bitcoin",
    "grownostr",
    "photography",
    "rust",
    "music",
];

/// A seeded generator of events.
pub struct Corpus {
    rng: ChaCha20Rng,
    authors: Vec<Keys>,
    recent: Vec<(EventId, PubKey)>,
    now: u64,
}

/// How many recent events replies and reactions may point at.
const RECENT_WINDOW: usize = 512;

impl Corpus {
    /// A corpus of `authors` authors starting at Unix time `start`.
    #[must_use]
    pub fn new(seed: u64, authors: usize, start: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let authors = (0..authors.max(1))
            .map(|_| Keys::generate(|b| rng.fill_bytes(b)))
            .collect();
        Self {
            rng,
            authors,
            recent: Vec::with_capacity(RECENT_WINDOW),
            now: start,
        }
    }

    /// The authors' keys.
    #[must_use]
    pub fn authors(&self) -> &[Keys] {
        &self.authors
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    /// An author index, Zipf-like: index i is drawn with weight ∝ 1/(i+1).
    fn author(&mut self) -> usize {
        let n = self.authors.len();
        // Inverse-CDF of a continuous 1/x law over [1, n+1): exp(u · ln(n+1)) - 1.
        let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let i = ((n as f64 + 1.0).ln() * u).exp() - 1.0;
        (i as usize).min(n - 1)
    }

    fn text(&mut self, target_len: usize) -> String {
        let mut s = String::with_capacity(target_len + 16);
        while s.len() < target_len {
            let w = WORDS[self.below(WORDS.len() as u64) as usize];
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(w);
        }
        s
    }

    /// Content length: mostly short, a long tail (mean ≈ 350 bytes).
    fn content_len(&mut self) -> usize {
        match self.below(100) {
            0..=49 => 20 + self.below(120) as usize,
            50..=84 => 140 + self.below(400) as usize,
            85..=97 => 540 + self.below(1_000) as usize,
            _ => 1_540 + self.below(3_000) as usize,
        }
    }

    /// The next event (time advances by 0–3 s per event).
    pub fn next_event(&mut self) -> Event {
        self.now += self.below(4);
        let a = self.author();
        let roll = self.below(1_000);
        let (kind, tags, content) = match roll {
            0..=549 => self.note(),
            550..=799 => self.reaction(),
            800..=859 => self.repost(),
            860..=899 => (
                Kind(0),
                vec![],
                format!("{{\"name\":\"user{a}\",\"about\":\"{}\"}}", self.text(60)),
            ),
            900..=919 => self.follow_list(),
            920..=929 => self.deletion(a),
            930..=949 => {
                let d = format!("article-{}", self.below(20));
                (
                    Kind(30_023),
                    vec![Tag::new(["d".to_owned(), d])],
                    self.text(2_000),
                )
            }
            _ => self.note(),
        };
        let keys = &self.authors[a];
        let mut aux = [0u8; 32];
        self.rng.fill_bytes(&mut aux);
        let event = UnsignedEvent::new(keys, UnixTime(self.now), kind, tags, &content)
            .sign(keys, &aux)
            .expect("corpus events are within the limits");
        if self.recent.len() == RECENT_WINDOW {
            let i = self.below(RECENT_WINDOW as u64) as usize;
            self.recent[i] = (event.id, event.pubkey);
        } else {
            self.recent.push((event.id, event.pubkey));
        }
        event
    }

    fn target(&mut self) -> Option<(EventId, PubKey)> {
        if self.recent.is_empty() {
            return None;
        }
        let i = self.below(self.recent.len() as u64) as usize;
        Some(self.recent[i])
    }

    fn note(&mut self) -> (Kind, Vec<Tag>, String) {
        let len = self.content_len();
        let mut content = self.text(len);
        let mut tags = Vec::new();
        if self.below(3) == 0
            && let Some((id, author)) = self.target()
        {
            tags.push(Tag::new([
                "e".to_owned(),
                id.to_hex(),
                String::new(),
                "root".to_owned(),
            ]));
            tags.push(Tag::new(["p".to_owned(), author.to_hex()]));
        }
        if self.below(5) == 0 {
            let h = HASHTAGS[self.below(HASHTAGS.len() as u64) as usize];
            tags.push(Tag::new(["t", h]));
            content.push_str(" #");
            content.push_str(h);
        }
        (Kind(1), tags, content)
    }

    fn reaction(&mut self) -> (Kind, Vec<Tag>, String) {
        match self.target() {
            Some((id, author)) => (
                Kind(7),
                vec![
                    Tag::new(["e".to_owned(), id.to_hex()]),
                    Tag::new(["p".to_owned(), author.to_hex()]),
                ],
                "+".to_owned(),
            ),
            None => self.note(),
        }
    }

    fn repost(&mut self) -> (Kind, Vec<Tag>, String) {
        match self.target() {
            Some((id, author)) => (
                Kind(6),
                vec![
                    Tag::new(["e".to_owned(), id.to_hex(), String::new()]),
                    Tag::new(["p".to_owned(), author.to_hex()]),
                ],
                String::new(),
            ),
            None => self.note(),
        }
    }

    fn follow_list(&mut self) -> (Kind, Vec<Tag>, String) {
        let n = 10 + self.below(150) as usize;
        let tags = (0..n)
            .map(|_| {
                let i = self.author();
                Tag::new(["p".to_owned(), self.authors[i].public().to_hex()])
            })
            .collect();
        (Kind(3), tags, String::new())
    }

    fn deletion(&mut self, author: usize) -> (Kind, Vec<Tag>, String) {
        let me = self.authors[author].public();
        let own: Vec<EventId> = self
            .recent
            .iter()
            .filter(|(_, a)| *a == me)
            .map(|(id, _)| *id)
            .collect();
        match own.first() {
            Some(id) => (
                Kind(5),
                vec![Tag::new(["e".to_owned(), id.to_hex()])],
                String::new(),
            ),
            None => self.note(),
        }
    }
}

impl Iterator for Corpus {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        Some(self.next_event())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_valid_and_shaped() {
        let a: Vec<Event> = Corpus::new(7, 50, 1_700_000_000).take(2_000).collect();
        let b: Vec<Event> = Corpus::new(7, 50, 1_700_000_000).take(2_000).collect();
        assert_eq!(a, b, "same seed, same corpus");
        for e in a.iter().take(200) {
            e.verify().expect("valid events");
        }
        let notes = a.iter().filter(|e| e.kind == Kind(1)).count();
        let reactions = a.iter().filter(|e| e.kind == Kind(7)).count();
        assert!((1_000..1_300).contains(&notes), "{notes} notes");
        assert!((400..600).contains(&reactions), "{reactions} reactions");
        let mean = a
            .iter()
            .filter(|e| e.kind == Kind(1))
            .map(|e| e.content.len())
            .sum::<usize>()
            / notes;
        assert!((200..600).contains(&mean), "mean note length {mean}");
        let top = a
            .iter()
            .filter(|e| e.pubkey == Corpus::new(7, 50, 0).authors()[0].public())
            .count();
        assert!(
            top > a.len() / 50 * 2,
            "Zipf: the first author posts more than an even share ({top})"
        );
    }
}
