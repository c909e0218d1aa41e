//! Did-you-mean: the nearest known name to a typo.

/// The closest candidate to `word`, if any is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3) && *distance < candidate.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["release", "chart", "namespace", "values"];
        assert_eq!(did_you_mean("namesapce", fields), Some("namespace"));
        assert_eq!(did_you_mean("chrat", fields), Some("chart"));
        assert_eq!(did_you_mean("colour", fields), None);
    }
}
