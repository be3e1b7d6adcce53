package rfm

// grades holds the 125 grades, three letters each, indexed by
// ((R−1)·25 + (F−1)·5 + (M−1))·3; TestGrade checks every entry. Slicing a
// constant string does not allocate.
const grades = "" +
	"EEEEEDEECEEBEEA" +
	"EDEEDDEDCEDBEDA" +
	"ECEECDECCECBECA" +
	"EBEEBDEBCEBBEBA" +
	"EAEEADEACEABEAA" +
	"DEEDEDDECDEBDEA" +
	"DDEDDDDDCDDBDDA" +
	"DCEDCDDCCDCBDCA" +
	"DBEDBDDBCDBBDBA" +
	"DAEDADDACDABDAA" +
	"CEECEDCECCEBCEA" +
	"CDECDDCDCCDBCDA" +
	"CCECCDCCCCCBCCA" +
	"CBECBDCBCCBBCBA" +
	"CAECADCACCABCAA" +
	"BEEBEDBECBEBBEA" +
	"BDEBDDBDCBDBBDA" +
	"BCEBCDBCCBCBBCA" +
	"BBEBBDBBCBBBBBA" +
	"BAEBADBACBABBAA" +
	"AEEAEDAECAEBAEA" +
	"ADEADDADCADBADA" +
	"ACEACDACCACBACA" +
	"ABEABDABCABBABA" +
	"AAEAADAACAABAAA"

// Grade returns the three-letter grade of a score, one letter per
// dimension in R, F, M order: 5 → A, 4 → B, 3 → C, 2 → D, 1 → E. "AAA" is
// the best customer, "EEE" the weakest. An invalid score (a dimension
// outside 1..5) is "". It does not allocate.
func Grade(s Score) string {
	if !s.Valid() {
		return ""
	}
	i := ((s.R-1)*25 + (s.F-1)*5 + (s.M - 1)) * 3
	return grades[i : i+3]
}
